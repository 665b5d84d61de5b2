import type { LabelSelector } from './types.ts';

/**
 * Kubernetes label-selector semantics: every matchLabels pair and every
 * expression must hold; an empty selector matches everything.
 */
export function matchesSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Problems with a selector's shape, for validating pool specs. */
export function selectorProblems(selector: unknown, path: string): string[] {
  if (selector === null || typeof selector !== 'object' || Array.isArray(selector)) {
    return [`${path} must be an object with matchLabels and/or matchExpressions`];
  }
  const s = selector as Record<string, unknown>;
  const problems: string[] = [];
  if (s.matchLabels !== undefined) {
    if (s.matchLabels === null || typeof s.matchLabels !== 'object' || Array.isArray(s.matchLabels)) {
      problems.push(`${path}.matchLabels must be a map of strings`);
    } else {
      for (const [k, v] of Object.entries(s.matchLabels)) {
        if (typeof v !== 'string') problems.push(`${path}.matchLabels.${k} must be a string`);
      }
    }
  }
  if (s.matchExpressions !== undefined) {
    if (!Array.isArray(s.matchExpressions)) {
      problems.push(`${path}.matchExpressions must be a list`);
    } else {
      s.matchExpressions.forEach((e: unknown, i) => {
        const p = `${path}.matchExpressions[${i}]`;
        if (e === null || typeof e !== 'object') {
          problems.push(`${p} must be an object`);
          return;
        }
        const ex = e as Record<string, unknown>;
        if (typeof ex.key !== 'string' || ex.key === '') problems.push(`${p}.key must be a non-empty string`);
        if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(ex.operator as string)) {
          problems.push(`${p}.operator must be one of In, NotIn, Exists, DoesNotExist`);
        } else if (ex.operator === 'In' || ex.operator === 'NotIn') {
          if (!Array.isArray(ex.values) || ex.values.length === 0 || ex.values.some((v) => typeof v !== 'string')) {
            problems.push(`${p}.values must be a non-empty list of strings for ${String(ex.operator)}`);
          }
        }
      });
    }
  }
  return problems;
}
