/**
 * A stack's template with its nested stacks spliced in: what `npm run docs:iam` reads (every function's
 * grants, wherever the function is) and what the infra tests assert references on (test/infra/support).
 */
import { NestedStack, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

type Json = Record<string, unknown>;
type TemplateJson = { Resources: Record<string, Json>; Outputs?: Record<string, { Value: unknown }> };

/** The nested stacks directly under a stack. */
export function nestedStacksOf(stack: Stack): NestedStack[] {
  return stack.node
    .findAll()
    .filter((child): child is NestedStack => NestedStack.isNestedStack(child))
    .filter((nested) => nested.nestedStackParent === stack);
}

/** The logical id, in its parent's template, of the AWS::CloudFormation::Stack resource of a nested stack. */
export function nestedStackResourceId(nested: NestedStack): string {
  const resource = nested.nestedStackResource;
  const parent = nested.nestedStackParent;
  if (!resource || !parent) throw new Error(`${nested.node.path} is not deployed as a nested stack`);
  return parent.resolve(resource.logicalId) as string;
}

/**
 * The template as one piece: each nested stack's resources spliced in, with every reference to a
 * nested parameter replaced by what the parent passes for it, and every `Fn::GetAtt [nested, Outputs.X]` in
 * the parent replaced by that output's value (itself in parent terms). What the tests of alarms and rollouts
 * assert about references (an alarm's function, a deployment group's alarms) then reads the same as in one
 * template, and a wrong parameter or output wiring shows as a wrong reference.
 */
export function wholeTemplate(stack: Stack): Template {
  const parent = Template.fromStack(stack).toJSON() as TemplateJson;
  const resources: Record<string, Json> = {};
  const outputsByResource = new Map<string, Record<string, unknown>>();
  const spliced: Record<string, Json> = {};
  for (const nested of nestedStacksOf(stack)) {
    const resourceId = nestedStackResourceId(nested);
    const nestedResource = parent.Resources[resourceId] as { Properties?: { Parameters?: Json } };
    const parameters = nestedResource.Properties?.Parameters ?? {};
    const inner = wholeTemplate(nested).toJSON() as TemplateJson;
    const toParent = (value: unknown) => replace(value, (node) => refOf(node, parameters));
    for (const [id, resource] of Object.entries(inner.Resources)) {
      if (id in parent.Resources || id in spliced) throw new Error(`Logical id ${id} is in two stacks`);
      spliced[id] = toParent(resource) as Json;
    }
    const outputs: Record<string, unknown> = {};
    for (const [name, output] of Object.entries(inner.Outputs ?? {})) outputs[name] = toParent(output.Value);
    outputsByResource.set(resourceId, outputs);
  }
  for (const [id, resource] of Object.entries(parent.Resources)) {
    if (outputsByResource.has(id)) continue;
    resources[id] = replace(resource, (node) => outputOf(node, outputsByResource)) as Json;
  }
  return Template.fromJSON({ ...parent, Resources: { ...resources, ...spliced } });
}

const UNCHANGED = Symbol('unchanged');

function replace(value: unknown, swap: (node: Json) => unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => replace(item, swap));
  if (value === null || typeof value !== 'object') return value;
  const swapped = swap(value as Json);
  if (swapped !== UNCHANGED) return swapped;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, replace(item, swap)]));
}

function refOf(node: Json, parameters: Json): unknown {
  const keys = Object.keys(node);
  if (keys.length !== 1 || keys[0] !== 'Ref') return UNCHANGED;
  const name = node.Ref as string;
  return name in parameters ? parameters[name] : UNCHANGED;
}

function outputOf(node: Json, outputsByResource: Map<string, Record<string, unknown>>): unknown {
  const keys = Object.keys(node);
  if (keys.length !== 1 || keys[0] !== 'Fn::GetAtt') return UNCHANGED;
  const [id, attribute] = node['Fn::GetAtt'] as [string, string];
  const outputs = outputsByResource.get(id);
  if (!outputs) return UNCHANGED;
  const name = attribute.replace(/^Outputs\./, '');
  if (!(name in outputs)) throw new Error(`The parent reads ${attribute} of ${id}, which has no such output`);
  return outputs[name];
}
