/**
 * `conditional-include` conditions, as rpm-ostree's docs/treefile.md defines them:
 * `<var> <op> <value>` with `<op>` one of `==`, `!=`, `<`, `<=`, `>`, `>=` and `<value>` a boolean,
 * a number or a quoted string; a list of conditions holds when all of them hold. The docs define
 * no bare `var` / `!var` form, so it is rejected with a message saying how to write it.
 */
import { TreefileConditionError, type TreefileErrorLocation } from './errors.ts';

/** A variable value: what `variables` and the Manifest's `variables` hold. */
export type VariableValue = string | number | boolean;

/** The comparison operators rpm-ostree supports. */
export const CONDITION_OPERATORS = ['==', '!=', '<=', '>=', '<', '>'] as const;

/** One of {@link CONDITION_OPERATORS}. */
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/** A parsed condition. */
export interface Condition {
  /** The condition as written. */
  readonly text: string;
  /** The variable compared. */
  readonly variable: string;
  /** The operator. */
  readonly operator: ConditionOperator;
  /** The literal it is compared with. */
  readonly value: VariableValue;
}

const CONDITION_PATTERN = /^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(==|!=|<=|>=|<|>)\s*(.*?)\s*$/;
const NUMBER_PATTERN = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;

/** The literal of a condition: `true`/`false`, a number, or a string in double or single quotes. */
function parseLiteral(text: string): VariableValue | undefined {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (NUMBER_PATTERN.test(text)) return Number(text);
  const quote = text[0];
  if ((quote === '"' || quote === "'") && text.length >= 2 && text.endsWith(quote)) {
    const inner = text.slice(1, -1);
    if (!inner.includes(quote)) return inner;
  }
  return undefined;
}

/** Parses `<var> <op> <value>`, failing with the condition and where it is written. */
export function parseCondition(text: string, location: TreefileErrorLocation): Condition {
  const match = CONDITION_PATTERN.exec(text);
  const where = `${location.file}: ${location.field}`;
  if (!match) {
    throw new TreefileConditionError(
      `${where}: condition '${text}' is not of the form '<variable> <op> <value>' with <op> one of ${CONDITION_OPERATORS.join(' ')} (rpm-ostree has no bare-variable test: write 'name == true')`,
      location,
    );
  }
  const [, variable = '', operator = '==', literal = ''] = match;
  const value = parseLiteral(literal);
  if (value === undefined) {
    throw new TreefileConditionError(
      `${where}: condition '${text}': value ${literal === '' ? '(nothing)' : `'${literal}'`} is not true, false, a number or a quoted string`,
      location,
    );
  }
  return { text, variable, operator: operator as ConditionOperator, value };
}

/** The type name of a value, for messages. */
function typeName(value: VariableValue): string {
  return typeof value;
}

/** Whether `condition` holds over `variables`; an unknown variable or mismatched types fail. */
export function evaluateCondition(
  condition: Condition,
  variables: Readonly<Record<string, VariableValue>>,
  location: TreefileErrorLocation,
): boolean {
  const where = `${location.file}: ${location.field}`;
  if (!Object.hasOwn(variables, condition.variable)) {
    const known = Object.keys(variables).sort().join(', ');
    throw new TreefileConditionError(
      `${where}: condition '${condition.text}' uses unknown variable '${condition.variable}' (variables: ${known || 'none'})`,
      location,
    );
  }
  const actual = variables[condition.variable] as VariableValue;
  const expected = condition.value;
  if (typeof actual !== typeof expected) {
    throw new TreefileConditionError(
      `${where}: condition '${condition.text}' compares ${typeName(actual)} variable '${condition.variable}' (${JSON.stringify(actual)}) with a ${typeName(expected)}`,
      location,
    );
  }
  if (condition.operator === '==') return actual === expected;
  if (condition.operator === '!=') return actual !== expected;
  if (typeof actual === 'boolean') {
    throw new TreefileConditionError(
      `${where}: condition '${condition.text}': booleans can only be compared with == and !=`,
      location,
    );
  }
  return compareOrdered(actual, expected as typeof actual, condition.operator);
}

/** `left <op> right` for two numbers or two strings (strings by code unit). */
function compareOrdered<T extends string | number>(
  left: T,
  right: T,
  operator: '<' | '<=' | '>' | '>=',
): boolean {
  if (operator === '<') return left < right;
  if (operator === '<=') return left <= right;
  if (operator === '>') return left > right;
  return left >= right;
}

/** Whether every condition of an `if` (a string or a list) holds. */
export function evaluateConditions(
  conditions: string | readonly string[],
  variables: Readonly<Record<string, VariableValue>>,
  location: TreefileErrorLocation,
): boolean {
  const list = typeof conditions === 'string' ? [conditions] : conditions;
  if (list.length === 0) {
    throw new TreefileConditionError(
      `${location.file}: ${location.field}: an empty list of conditions`,
      location,
    );
  }
  // The key of the `index`th condition (`if` itself for a single string).
  const fieldOf = (index: number) =>
    typeof conditions === 'string' ? location.field : `${location.field}.${index}`;
  // Every condition is parsed and evaluated (no short circuit), so a bad one always fails.
  const parsed = list.map((text, index) => parseCondition(text, { ...location, field: fieldOf(index) }));
  const results = parsed.map((condition, index) =>
    evaluateCondition(condition, variables, { ...location, field: fieldOf(index) }),
  );
  return results.every((holds) => holds);
}
