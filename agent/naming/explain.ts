// Plain-text rendering of an Explanation (bind.ts) for `weft explain` and the admin endpoint.
// One line per step, indented by delegation depth, each path followed by what it bound to, in the
// spirit of the Finagle user guide's rewrite listings ("Interpreting Paths With Delegation Tables").
import type { BoundName, ExplainNamer, ExplainNode, ExplainPath, Explanation } from './bind.ts';
import { showDentry } from './dtab.ts';
import { type NameTree, formatWeight, showNameTree, showNameTreeWith } from './name-tree.ts';
import { showPath } from './path.ts';

/** `/#/k8s/prod/users/80`, and a non-empty residual after it: `/$/inet/h/80 (residual /rest)`. */
export function showBoundName(name: BoundName): string {
  return name.residual.length === 0 ? showPath(name.id) : `${showPath(name.id)} (residual ${showPath(name.residual)})`;
}

/** A bound tree in dtab notation, and a Fail with its reason: `! (delegation loop: …)`. */
export function showBoundTree(tree: NameTree<BoundName>): string {
  switch (tree.kind) {
    case 'neg':
      return '~ (neg: no binding)';
    case 'empty':
      return '$ (empty)';
    case 'fail':
      return tree.reason === undefined ? '! (fail)' : `! (${tree.reason})`;
    default:
      return showNameTreeWith(tree, showBoundName);
  }
}

/** The explanation as indented text, ending with the result. */
export function formatExplanation(explanation: Explanation): string {
  const lines: string[] = [];
  node(lines, explanation.root, '', '');
  lines.push(`result: ${showBoundTree(explanation.result)}`);
  return lines.join('\n') + '\n';
}

const skippedBecause = {
  settled: 'not tried: settled by an earlier alternative',
  budget: 'not tried: out of lookups',
} as const;

// `pad` indents a node; `lead` marks its first line ('| ' for an alternative, '& 0.9 * ' for a
// weighted branch). A node's own steps go one level (two columns) in, two levels under a lead.
function node(lines: string[], n: ExplainNode, pad: string, lead: string): void {
  const inner = pad + (lead === '' ? '  ' : '    ');
  switch (n.kind) {
    case 'path':
      pathNode(lines, n, pad + lead, inner);
      return;
    case 'alt':
      lines.push(`${pad}${lead}alternatives, first that binds -> ${showBoundTree(n.result)}`);
      for (const child of n.trees) node(lines, child, inner, '| ');
      return;
    case 'union':
      lines.push(`${pad}${lead}union -> ${showBoundTree(n.result)}`);
      for (const { weight, node: child } of n.trees) node(lines, child, inner, `& ${formatWeight(weight)} * `);
      return;
    case 'literal':
      lines.push(`${pad}${lead}${showBoundTree(n.tree)}`);
      return;
    case 'skipped':
      lines.push(`${pad}${lead}${showNameTree(n.tree)}  (${skippedBecause[n.because]})`);
      return;
  }
}

function pathNode(lines: string[], n: ExplainPath, first: string, inner: string): void {
  lines.push(`${first}${showPath(n.path)} -> ${showBoundTree(n.result)}`);
  if (n.error !== undefined) {
    lines.push(`${inner}refused: ${n.error}`);
    return;
  }
  for (const r of n.rewrites) {
    if (r.node.kind === 'skipped') {
      const why = r.node.because === 'settled' ? 'not tried: a later dentry settled it' : skippedBecause.budget;
      lines.push(`${inner}dentry #${r.index} ${showDentry(r.dentry)}  (${why})`);
      continue;
    }
    lines.push(`${inner}dentry #${r.index} ${showDentry(r.dentry)}`);
    node(lines, r.node, inner + '  ', '');
  }
  for (const asked of n.namers) namerLine(lines, asked, inner);
  if (n.rewrites.length === 0 && n.namers.length === 0) {
    lines.push(`${inner}no dentry or namer matches`);
  }
}

function namerLine(lines: string[], asked: ExplainNamer, pad: string): void {
  const prefix = showPath(asked.prefix);
  const answer = asked.answer;
  switch (answer.kind) {
    case 'bound':
      lines.push(`${pad}namer ${prefix}: bound ${showBoundName({ id: [...asked.prefix, ...answer.id], residual: answer.residual })}`);
      return;
    case 'neg':
      lines.push(`${pad}namer ${prefix}: neg`);
      return;
    case 'fail':
      lines.push(`${pad}namer ${prefix}: fail (${answer.reason})`);
      return;
    case 'delegate':
      lines.push(`${pad}namer ${prefix}: delegates to ${showNameTree(answer.tree)}`);
      if (asked.node !== undefined) node(lines, asked.node, pad + '  ', '');
      return;
  }
}
