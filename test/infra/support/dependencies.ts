type Json = Record<string, unknown>;

/**
 * The logical ids a resource depends on, as CloudFormation orders them: DependsOn, and every Ref, Fn::GetAtt
 * and Fn::Sub placeholder anywhere in the resource, UpdatePolicy included (CodeDeploy's alias update names
 * its deployment group there). aws-cdk-lib/assertions' own cycle check reads only Properties and DependsOn.
 */
export function dependenciesOf(resource: Json, logicalIds: ReadonlySet<string>): Set<string> {
  const found = new Set<string>();
  const dependsOn = resource.DependsOn;
  for (const id of Array.isArray(dependsOn) ? dependsOn : dependsOn ? [dependsOn] : []) found.add(String(id));
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const node = value as Json;
    const keys = Object.keys(node);
    if (keys.length === 1 && keys[0] === 'Ref') found.add(String(node.Ref));
    else if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
      const target = node['Fn::GetAtt'];
      found.add(Array.isArray(target) ? String(target[0]) : (String(target).split('.')[0] ?? ''));
    } else if (keys.length === 1 && keys[0] === 'Fn::Sub') {
      const argument = node['Fn::Sub'];
      const pattern = Array.isArray(argument) ? argument[0] : argument;
      for (const match of String(pattern).matchAll(/\$\{([^!}][^}.]*)(\.[^}]*)?\}/g))
        found.add(match[1] ?? '');
      if (Array.isArray(argument)) visit(argument[1]);
    } else for (const item of Object.values(node)) visit(item);
  };
  for (const [key, value] of Object.entries(resource))
    if (key !== 'DependsOn' && key !== 'Type') visit(value);
  return new Set([...found].filter((id) => logicalIds.has(id)));
}

/** A dependency cycle among a template's resources (its logical ids, the first repeated at the end), if any. */
export function dependencyCycle(template: { Resources?: Record<string, Json> }): string[] | undefined {
  const resources = template.Resources ?? {};
  const ids = new Set(Object.keys(resources));
  const edges = new Map([...ids].map((id) => [id, dependenciesOf(resources[id] as Json, ids)]));
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'open') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'open');
    path.push(id);
    for (const next of edges.get(id) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of ids) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}
