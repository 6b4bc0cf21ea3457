/**
 * Builds an UpdateItem's expressions without hand-numbered placeholders: every attribute name goes
 * through an alias (so reserved words such as `owner` or `left` need no care) and every value gets its
 * own placeholder. Conditions are written with `name()` and `value()`.
 */
export class UpdateExpression {
  private readonly sets: string[] = [];
  private readonly removes: string[] = [];
  private readonly conditions: string[] = [];
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private counter = 0;

  name(attribute: string): string {
    const alias = `#${attribute}`;
    this.names[alias] = attribute;
    return alias;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.counter++}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  set(attribute: string, value: unknown): this {
    this.sets.push(`${this.name(attribute)} = ${this.value(value)}`);
    return this;
  }

  /** Keeps the attribute if it is there already. */
  setIfAbsent(attribute: string, value: unknown): this {
    const name = this.name(attribute);
    this.sets.push(`${name} = if_not_exists(${name}, ${this.value(value)})`);
    return this;
  }

  /** Adds to a number attribute, counting a missing one as 0. */
  increment(attribute: string, by: number): this {
    const name = this.name(attribute);
    this.sets.push(`${name} = if_not_exists(${name}, ${this.value(0)}) + ${this.value(by)}`);
    return this;
  }

  /** Removes the attributes (once each, however often asked: an event's parts may each ask). */
  remove(...attributes: string[]): this {
    for (const attribute of attributes) {
      const name = this.name(attribute);
      if (!this.removes.includes(name)) this.removes.push(name);
    }
    return this;
  }

  /** Adds a condition (ANDed with the others); build it with name() and value(). */
  require(condition: string): this {
    this.conditions.push(`(${condition})`);
    return this;
  }

  get updateExpression(): string {
    const parts = [];
    if (this.sets.length) parts.push(`SET ${this.sets.join(', ')}`);
    if (this.removes.length) parts.push(`REMOVE ${this.removes.join(', ')}`);
    return parts.join(' ');
  }

  get conditionExpression(): string | undefined {
    return this.conditions.length ? this.conditions.join(' AND ') : undefined;
  }

  /** The parts of an Update action (for UpdateItem or TransactWriteItems). */
  toUpdate(tableName: string, key: Record<string, unknown>) {
    return {
      TableName: tableName,
      Key: key,
      UpdateExpression: this.updateExpression,
      ConditionExpression: this.conditionExpression,
      ExpressionAttributeNames: this.names,
      ExpressionAttributeValues: Object.keys(this.values).length ? this.values : undefined,
    };
  }
}
