// Budgets: a monthly amount per category, and how much of it the month's expenses have used.
import { useEffect, useState } from "preact/hooks";
import { ledger, problems, query, session } from "./api";
import type { Budget } from "./gen/cashflow/v1/query_pb";
import { money, monthName, thisMonth } from "./format";
import { CategoryOptions, type Done, type Ledger } from "./ledger";
import { Alert, described, Field, FormProblem, Status, text, useForm } from "./ui";

const BUDGET_FIELDS = ["category_id", "amount", "month"];

export function Budgets(props: { ledger: Ledger; changes: number; onDone: Done }) {
  const [month, setMonth] = useState(thisMonth());
  const [budgets, setBudgets] = useState<Budget[]>([]);
  const [trouble, setTrouble] = useState<string>();
  const currencies = [...new Set(props.ledger.balances.map((b) => b.currency))];
  useEffect(() => {
    if (!/^\d{4}-\d{2}$/.test(month)) return;
    let current = true;
    query
      .getBudgets({ month, minPosition: session.position || undefined })
      .then((response) => {
        if (!current) return;
        setBudgets(response.budgets);
        setTrouble(undefined);
      })
      .catch((error) => current && setTrouble(problems(error).form));
    return () => {
      current = false;
    };
  }, [month, props.changes]);
  // The currency has a control only when the accounts have more than one.
  const shown = currencies.length > 1 ? [...BUDGET_FIELDS, "currency"] : BUDGET_FIELDS;
  const form = useForm(shown, async ({ data, commandId }) => {
    const currency = text(data, "currency");
    const response = await ledger.setBudget({
      commandId,
      categoryId: text(data, "category_id"),
      month: text(data, "month") || undefined,
      amount: text(data, "amount").trim(),
      currency: currency || undefined,
    });
    props.onDone(response.position);
    const category = props.ledger.categories.find((c) => c.categoryId === text(data, "category_id"));
    return `Budget set for ${category?.name ?? "the category"}.`;
  });
  const f = form.fields;
  const noCategory = props.ledger.categories.length === 0;
  return (
    <section aria-labelledby="budgets-title" id="budgets">
      <h2 id="budgets-title">Budgets</h2>
      <form onSubmit={form.onSubmit} noValidate>
        <Field
          id="budget-category"
          label="Budget category"
          error={f.category_id}
          hint={noCategory ? "Create a category first." : undefined}
        >
          <select {...described("budget-category", f.category_id, noCategory ? "hint" : undefined)} name="category_id">
            <CategoryOptions categories={props.ledger.categories} />
          </select>
        </Field>
        <div class="row">
          <Field id="budget-amount" label="Budget amount" error={f.amount}>
            <input
              {...described("budget-amount", f.amount)}
              name="amount"
              inputMode="decimal"
              autocomplete="off"
              placeholder="0.00"
            />
          </Field>
          {currencies.length > 1 && (
            <Field id="budget-currency" label="Budget currency" error={f.currency}>
              <select {...described("budget-currency", f.currency)} name="currency" class="short">
                {currencies.map((c) => (
                  <option key={c}>{c}</option>
                ))}
              </select>
            </Field>
          )}
        </div>
        <Field id="budget-month" label="Budget month" error={f.month} hint="Empty: every month from this one on.">
          <input
            {...described("budget-month", f.month, "hint")}
            placeholder="YYYY-MM"
            name="month"
            type="month"
            value={month}
            onInput={(e) => setMonth(e.currentTarget.value)}
          />
        </Field>
        <FormProblem problems={form.problems} />
        <button type="submit" disabled={form.busy}>
          Set budget
        </button>
        <Status text={form.status} />
      </form>
      <Alert text={trouble} />
      <h3>{/^\d{4}-\d{2}$/.test(month) ? monthName(month) : "This month"}</h3>
      {budgets.length === 0 ? (
        <p class="empty">No budgets for this month.</p>
      ) : (
        <ul class="budgets">
          {budgets.map((b) => (
            <BudgetBar key={b.budgetId} budget={b} />
          ))}
        </ul>
      )}
    </section>
  );
}

function BudgetBar(props: { budget: Budget }) {
  const b = props.budget;
  const used = Number(b.percentUsed) || 0;
  const level = used >= 100 ? "over" : used >= 80 ? "near" : "fine";
  const id = `budget-${b.budgetId}`;
  const over = b.remaining.startsWith("-");
  return (
    <li class={`budget ${level}`}>
      <div class="budget-head">
        <span id={id}>{b.categoryName}</span>
        <span>
          {money(b.spent, b.currency)} of {money(b.amount, b.currency)}
        </span>
      </div>
      <div
        class="bar"
        role="progressbar"
        aria-labelledby={id}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.min(used, 100)}
        aria-valuetext={`${b.percentUsed}% used`}
      >
        <span style={{ width: `${Math.min(used, 100)}%` }} />
      </div>
      <p class="budget-note">
        {b.percentUsed}% used ·{" "}
        {over ? `${money(b.remaining.slice(1), b.currency)} over` : `${money(b.remaining, b.currency)} left`}
      </p>
    </li>
  );
}
