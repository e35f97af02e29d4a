/**
 * `conditional-include` conditions, as rpm-ostree parses and evaluates them (rust/src/treefile.rs
 * `IncludeCondition`): `<var> <op> <value>` where `<var>` is letters, digits and `_`, `<op>` one
 * of `==`, `!=`, `<`, `<=`, `>`, `>=`, and `<value>` `true`, `false`, a non-negative integer or a
 * string in double quotes; a list of conditions holds when all of them hold (each is evaluated,
 * so a bad one always fails). The ordering operators compare numbers only; a variable must exist
 * and have the value's type. rpm-ostree has no bare `var` / `!var` form; it is rejected with a
 * message saying how to write it.
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

/**
 * rpm-ostree's condition regular expression, unchanged (JavaScript backtracks the same way, so
 * `a>=1` splits as rpm-ostree splits it: operator `>=` would need the spaces it is written with).
 */
const CONDITION_PATTERN = /^\s*([A-Za-z0-9_]+)\s*(\S+)\s*(?:(true)|(false)|([0-9]+)|"(.*)")\s*$/;

/** Parses `<var> <op> <value>`, failing with the condition and where it is written. */
export function parseCondition(text: string, location: TreefileErrorLocation): Condition {
  const match = CONDITION_PATTERN.exec(text);
  const where = `${location.file}: ${location.field}`;
  if (!match) {
    throw new TreefileConditionError(
      `${where}: invalid condition '${text}': not of the form '<variable> <op> <value>' with <op> one of ${CONDITION_OPERATORS.join(' ')} and <value> true, false, a non-negative integer or a "double-quoted string" (rpm-ostree has no bare-variable test: write 'name == true')`,
      location,
    );
  }
  const [, variable = '', operator = '', isTrue, isFalse, digits, quoted] = match;
  if (!(CONDITION_OPERATORS as readonly string[]).includes(operator)) {
    throw new TreefileConditionError(
      `${where}: condition '${text}': expected one of ${CONDITION_OPERATORS.join(', ')} but got ${operator}`,
      location,
    );
  }
  let value: VariableValue;
  if (isTrue !== undefined) value = true;
  else if (isFalse !== undefined) value = false;
  else if (digits !== undefined) {
    if (BigInt(digits) > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TreefileConditionError(`${where}: condition '${text}': ${digits} is too large`, location);
    }
    value = Number(digits);
  } else value = quoted ?? '';
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
  if (typeof actual !== 'number') {
    throw new TreefileConditionError(
      `${where}: condition '${condition.text}': ${condition.operator} compares numbers only, and '${condition.variable}' is a ${typeName(actual)}`,
      location,
    );
  }
  return compareNumbers(actual, expected as number, condition.operator);
}

/** `left <op> right` for two numbers. */
function compareNumbers(left: number, right: number, operator: '<' | '<=' | '>' | '>='): boolean {
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
