import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The documentation a newcomer reads: a README that fits on a screen, and links (README.md, docs/*.md)
 * that all lead to files in the repository.
 */
const ROOT = join(import.meta.dirname, '..');
const DOCUMENTS = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((name) => `docs/${name}`)].filter(
  (file) => file.endsWith('.md'),
);

/** Relative links of a markdown text: `[text](target)`, without anchors and web addresses. */
function relativeLinks(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => (m[1] ?? '').split('#')[0] ?? '')
    .filter((target) => target !== '' && !/^[a-z]+:/.test(target));
}

describe('documentation', () => {
  it('the README is at most 150 lines', () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(150);
  });

  it.each(DOCUMENTS)('every relative link of %s leads to a file in the repository', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const missing = relativeLinks(text).filter((target) => !existsSync(join(ROOT, dirname(file), target)));
    expect(missing).toEqual([]);
  });
});
