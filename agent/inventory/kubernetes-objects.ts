// How a Kubernetes source names a field problem of an object it skips: the same path spelling as
// the file sources' errors, so an operator reads one format wherever the object came from.
import type { FieldIssue } from './object-file.ts';
import { formatPath } from './object-file.ts';

/** `metadata.uid: expected a UUID …; status.phase: …` (at most three, then how many more). */
export function describeIssues(issues: readonly FieldIssue[]): string {
  const shown = issues.slice(0, 3).map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`);
  return shown.join('; ');
}
