// JSON logs, one line per decision, with the keys of the objects involved.

import winston from 'winston';

type Line = (message: string, fields?: Record<string, unknown>) => void;

export interface Logger {
  info: Line;
  warn: Line;
}

export function makeLogger(level = process.env.SHAREDLB_LOG_LEVEL ?? 'info'): Logger {
  const w = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
  // winston builds a line below its level and passes it down its stream before dropping it: CPU spent per
  // decision for nothing. The level is fixed for the process's life.
  const at = (l: keyof Logger): Line => (w.isLevelEnabled(l) ? (message, fields = {}) => void w.log(l, message, fields) : () => undefined);
  return { info: at('info'), warn: at('warn') };
}
