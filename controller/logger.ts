// JSON logs, one line per decision, with the keys of the objects involved.

import winston from 'winston';

export type Logger = winston.Logger;

export function makeLogger(level = process.env.SHAREDLB_LOG_LEVEL ?? 'info'): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
}
