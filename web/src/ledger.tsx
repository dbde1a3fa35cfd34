// The ledger's forms (open an account, create a category, record a movement) and the balances.
import { ledger } from "./api";
import { Direction } from "./gen/cashflow/v1/ledger_pb";
import type { Balance, Category } from "./gen/cashflow/v1/query_pb";
import { money, today } from "./format";
import { described, Field, FormProblem, Status, text, useForm } from "./ui";

/** What the screens read of the ledger: accounts with their balances, and categories. */
export type Ledger = { balances: Balance[]; categories: Category[] };

/** Called with a command's position once it is done, so the screens read it back. */
export type Done = (position: bigint) => void;

// The request fields each form has a control for (the service's words about them go there).
const ACCOUNT_FIELDS = ["name", "currency", "opening_balance"];
const RECORD_FIELDS = ["account_id", "direction", "amount", "occurred_on", "description", "category_id"];

export function OpenAccount(props: { onDone: Done }) {
  const form = useForm(ACCOUNT_FIELDS, async ({ data, commandId, form }) => {
    const name = text(data, "name");
    const opening = text(data, "opening_balance").trim();
    const response = await ledger.openAccount({
      commandId,
      name,
      currency: text(data, "currency").trim().toUpperCase(),
      openingBalance: opening === "" ? undefined : opening,
    });
    form.reset();
    props.onDone(response.position);
    return `Opened ${name}.`;
  });
  const f = form.fields;
  return (
    <section aria-labelledby="open-account-title">
      <h2 id="open-account-title">Open an account</h2>
      <form onSubmit={form.onSubmit} noValidate>
        <Field id="account-name" label="Account name" error={f.name}>
          <input {...described("account-name", f.name)} name="name" autocomplete="off" />
        </Field>
        <div class="row">
          <Field id="currency" label="Currency" error={f.currency}>
            <input
              {...described("currency", f.currency)}
              name="currency"
              defaultValue="EUR"
              maxLength={3}
              autocomplete="off"
              class="short"
            />
          </Field>
          <Field id="opening-balance" label="Opening balance" error={f.opening_balance}>
            <input
              {...described("opening-balance", f.opening_balance)}
              name="opening_balance"
              inputMode="decimal"
              autocomplete="off"
              placeholder="0.00"
            />
          </Field>
        </div>
        <FormProblem problems={form.problems} />
        <button type="submit" disabled={form.busy}>
          Open account
        </button>
        <Status text={form.status} />
      </form>
    </section>
  );
}

export function CreateCategory(props: { onDone: Done }) {
  const form = useForm(["name"], async ({ data, commandId, form }) => {
    const name = text(data, "name");
    const response = await ledger.createCategory({ commandId, name });
    form.reset();
    props.onDone(response.position);
    return `Created ${name}.`;
  });
  const f = form.fields;
  return (
    <section aria-labelledby="create-category-title">
      <h2 id="create-category-title">Categories</h2>
      <form onSubmit={form.onSubmit} noValidate>
        <Field id="category-name" label="Category name" error={f.name}>
          <input {...described("category-name", f.name)} name="name" autocomplete="off" />
        </Field>
        <FormProblem problems={form.problems} />
        <button type="submit" disabled={form.busy}>
          Create category
        </button>
        <Status text={form.status} />
      </form>
    </section>
  );
}

export function RecordMovement(props: { ledger: Ledger; onDone: Done }) {
  const form = useForm(RECORD_FIELDS, async ({ data, commandId, form }) => {
    const category = text(data, "category_id");
    const description = text(data, "description");
    const response = await ledger.recordMovement({
      commandId,
      accountId: text(data, "account_id"),
      direction: text(data, "direction") === "income" ? Direction.INCOME : Direction.EXPENSE,
      amount: text(data, "amount").trim(),
      occurredOn: text(data, "occurred_on"),
      description,
      categoryId: category === "" ? undefined : category,
    });
    (form.elements.namedItem("amount") as HTMLInputElement).value = "";
    (form.elements.namedItem("description") as HTMLInputElement).value = "";
    props.onDone(response.position);
    return `Recorded ${description}.`;
  });
  const f = form.fields;
  const { balances, categories } = props.ledger;
  const noAccount = balances.length === 0;
  return (
    <section aria-labelledby="record-title">
      <h2 id="record-title">Record income or an expense</h2>
      <form onSubmit={form.onSubmit} noValidate>
        <Field id="movement-account" label="Account" error={f.account_id} hint={noAccount ? "Open an account first." : undefined}>
          <select {...described("movement-account", f.account_id, noAccount ? "hint" : undefined)} name="account_id">
            <AccountOptions balances={balances} />
          </select>
        </Field>
        <div class="row">
          <Field id="direction" label="Type" error={f.direction}>
            <select {...described("direction", f.direction)} name="direction">
              <option value="expense">Expense</option>
              <option value="income">Income</option>
            </select>
          </Field>
          <Field id="amount" label="Amount" error={f.amount}>
            <input {...described("amount", f.amount)} name="amount" inputMode="decimal" autocomplete="off" placeholder="0.00" />
          </Field>
        </div>
        <Field id="occurred-on" label="Date" error={f.occurred_on}>
          <input {...described("occurred-on", f.occurred_on)} name="occurred_on" type="date" defaultValue={today()} />
        </Field>
        <Field id="description" label="Description" error={f.description}>
          <input {...described("description", f.description)} name="description" autocomplete="off" />
        </Field>
        <Field id="movement-category" label="Category" error={f.category_id}>
          <select {...described("movement-category", f.category_id)} name="category_id">
            <option value="">No category</option>
            <CategoryOptions categories={categories} />
          </select>
        </Field>
        <FormProblem problems={form.problems} />
        <button type="submit" disabled={form.busy}>
          Record
        </button>
        <Status text={form.status} />
      </form>
    </section>
  );
}

export function AccountOptions(props: { balances: Balance[] }) {
  return (
    <>
      {props.balances.map((b) => (
        <option key={b.accountId} value={b.accountId}>
          {b.name} ({b.currency})
        </option>
      ))}
    </>
  );
}

export function CategoryOptions(props: { categories: Category[] }) {
  return (
    <>
      {props.categories.map((c) => (
        <option key={c.categoryId} value={c.categoryId}>
          {c.name}
        </option>
      ))}
    </>
  );
}

export function Balances(props: { balances: Balance[] }) {
  return (
    <section aria-labelledby="balances-title" id="balances">
      <h2 id="balances-title">Balances</h2>
      {props.balances.length === 0 ? (
        <p class="empty">No accounts yet.</p>
      ) : (
        <ul class="balances">
          {props.balances.map((b) => (
            <li key={b.accountId}>
              <span>{b.name}</span>
              <strong class={b.balance.startsWith("-") ? "negative" : undefined}>{money(b.balance, b.currency)}</strong>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
