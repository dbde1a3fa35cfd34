// Cashflow in the browser: sign up or log in, then accounts, categories, movements and balances.
import { render, type ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { auth, commandId, ledger, problems, query, session, type Problems } from "./api";
import { Direction } from "./gen/cashflow/v1/ledger_pb";
import type { Balance, Category, Movement } from "./gen/cashflow/v1/query_pb";
import { day, money, today } from "./format";
import "./style.css";

const PAGE_SIZE = 10;
const NO_PROBLEMS: Problems = { fields: {} };

/** A labelled control with the service's words about it underneath. */
function Field(props: { id: string; label: string; error?: string; hint?: string; children: ComponentChildren }) {
  return (
    <div class={props.error ? "field invalid" : "field"}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && !props.error && (
        <p class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="error" id={`${props.id}-error`}>
          {props.error}
        </p>
      )}
    </div>
  );
}

/** aria attributes tying a control to its error or hint. */
function described(id: string, error?: string, hint?: string) {
  return {
    id,
    "aria-invalid": error ? ("true" as const) : undefined,
    "aria-describedby": error ? `${id}-error` : hint ? `${id}-hint` : undefined,
  };
}

function FormProblem(props: { problems: Problems }) {
  return props.problems.form ? (
    <p class="error form-error" role="alert">
      {props.problems.form}
    </p>
  ) : null;
}

/** Submits with one command id per attempt, so a retry after a lost answer is not applied twice. */
function useCommand() {
  const id = useRef(commandId());
  return { id: () => id.current, done: () => (id.current = commandId()) };
}

function SignIn(props: { onSignedIn: (email: string) => void; notice?: string }) {
  const [busy, setBusy] = useState(false);
  const [trouble, setTrouble] = useState<Problems>(NO_PROBLEMS);
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const email = String(data.get("email") ?? "");
    const password = String(data.get("password") ?? "");
    const signUp = (event.submitter as HTMLButtonElement | null)?.value === "sign-up";
    setBusy(true);
    setTrouble(NO_PROBLEMS);
    try {
      if (signUp) {
        await auth.register({ email, password, displayName: String(data.get("name") ?? "") });
      }
      session.start(await auth.login({ email, password }));
      props.onSignedIn(email);
    } catch (error) {
      setTrouble(problems(error));
      setBusy(false);
    }
  };
  const f = trouble.fields;
  return (
    <main class="sign-in">
      <h1>Cashflow</h1>
      <p>Your accounts, income and expenses in one place.</p>
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <form onSubmit={submit} aria-busy={busy} noValidate>
        <Field id="email" label="Email" error={f.email}>
          <input {...described("email", f.email)} name="email" type="email" autocomplete="username" />
        </Field>
        <Field id="password" label="Password" error={f.password} hint="At least 10 characters to sign up.">
          <input
            {...described("password", f.password, "hint")}
            name="password"
            type="password"
            autocomplete="current-password"
          />
        </Field>
        <Field id="name" label="Name" error={f.display_name} hint="Only needed to sign up.">
          <input {...described("name", f.display_name, "hint")} name="name" autocomplete="name" />
        </Field>
        <FormProblem problems={trouble} />
        <div class="actions">
          <button type="submit" value="log-in" disabled={busy}>
            Log in
          </button>
          <button type="submit" value="sign-up" class="secondary" disabled={busy}>
            Sign up
          </button>
        </div>
      </form>
    </main>
  );
}

type Ledger = { balances: Balance[]; categories: Category[] };

function Home(props: { email: string; onLoggedOut: () => void }) {
  const [data, setData] = useState<Ledger>({ balances: [], categories: [] });
  const [changes, setChanges] = useState(0);
  const [loadProblem, setLoadProblem] = useState<string>();
  const changed = (position: bigint) => {
    session.saw(position);
    setChanges((n) => n + 1);
  };
  useEffect(() => {
    const minPosition = session.position || undefined;
    Promise.all([query.getBalances({ minPosition }), query.listCategories({ minPosition })])
      .then(([b, c]) => {
        setData({ balances: b.balances, categories: c.categories });
        setLoadProblem(undefined);
      })
      .catch((error) => setLoadProblem(problems(error).form));
  }, [changes]);
  const logOut = async () => {
    await session.logOut();
    props.onLoggedOut();
  };
  return (
    <>
      <header class="top">
        <h1>Cashflow</h1>
        <span class="who">{props.email}</span>
        <button type="button" class="secondary" onClick={logOut}>
          Log out
        </button>
      </header>
      <main class="home">
        {loadProblem && (
          <p class="error form-error" role="alert">
            {loadProblem}
          </p>
        )}
        <div class="forms">
          <RecordMovement ledger={data} onDone={changed} />
          <OpenAccount onDone={changed} />
          <CreateCategory onDone={changed} />
        </div>
        <div class="reading">
          <Balances balances={data.balances} />
          <Movements ledger={data} changes={changes} />
        </div>
      </main>
    </>
  );
}

function OpenAccount(props: { onDone: (position: bigint) => void }) {
  const command = useCommand();
  const [trouble, setTrouble] = useState<Problems>(NO_PROBLEMS);
  const [status, setStatus] = useState("");
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const opening = String(data.get("opening_balance") ?? "").trim();
    setStatus("");
    try {
      const name = String(data.get("name") ?? "");
      const response = await ledger.openAccount({
        commandId: command.id(),
        name,
        currency: String(data.get("currency") ?? "").trim().toUpperCase(),
        openingBalance: opening === "" ? undefined : opening,
      });
      command.done();
      setTrouble(NO_PROBLEMS);
      setStatus(`Opened ${name}.`);
      form.reset();
      props.onDone(response.position);
    } catch (error) {
      setTrouble(problems(error));
    }
  };
  const f = trouble.fields;
  return (
    <section aria-labelledby="open-account-title">
      <h2 id="open-account-title">Open an account</h2>
      <form onSubmit={submit} noValidate>
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
        <FormProblem problems={trouble} />
        <button type="submit">Open account</button>
        <p class="status" role="status">
          {status}
        </p>
      </form>
    </section>
  );
}

function CreateCategory(props: { onDone: (position: bigint) => void }) {
  const command = useCommand();
  const [trouble, setTrouble] = useState<Problems>(NO_PROBLEMS);
  const [status, setStatus] = useState("");
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const name = String(new FormData(form).get("name") ?? "");
    setStatus("");
    try {
      const response = await ledger.createCategory({ commandId: command.id(), name });
      command.done();
      setTrouble(NO_PROBLEMS);
      setStatus(`Created ${name}.`);
      form.reset();
      props.onDone(response.position);
    } catch (error) {
      setTrouble(problems(error));
    }
  };
  const f = trouble.fields;
  return (
    <section aria-labelledby="create-category-title">
      <h2 id="create-category-title">Categories</h2>
      <form onSubmit={submit} noValidate>
        <Field id="category-name" label="Category name" error={f.name}>
          <input {...described("category-name", f.name)} name="name" autocomplete="off" />
        </Field>
        <FormProblem problems={trouble} />
        <button type="submit">Create category</button>
        <p class="status" role="status">
          {status}
        </p>
      </form>
    </section>
  );
}

function RecordMovement(props: { ledger: Ledger; onDone: (position: bigint) => void }) {
  const command = useCommand();
  const [trouble, setTrouble] = useState<Problems>(NO_PROBLEMS);
  const [status, setStatus] = useState("");
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const category = String(data.get("category_id") ?? "");
    const description = String(data.get("description") ?? "");
    setStatus("");
    try {
      const response = await ledger.recordMovement({
        commandId: command.id(),
        accountId: String(data.get("account_id") ?? ""),
        direction: data.get("direction") === "income" ? Direction.INCOME : Direction.EXPENSE,
        amount: String(data.get("amount") ?? "").trim(),
        occurredOn: String(data.get("occurred_on") ?? ""),
        description,
        categoryId: category === "" ? undefined : category,
      });
      command.done();
      setTrouble(NO_PROBLEMS);
      setStatus(`Recorded ${description}.`);
      (form.elements.namedItem("amount") as HTMLInputElement).value = "";
      (form.elements.namedItem("description") as HTMLInputElement).value = "";
      props.onDone(response.position);
    } catch (error) {
      setTrouble(problems(error));
    }
  };
  const f = trouble.fields;
  const { balances, categories } = props.ledger;
  return (
    <section aria-labelledby="record-title">
      <h2 id="record-title">Record income or an expense</h2>
      <form onSubmit={submit} noValidate>
        <Field
          id="movement-account"
          label="Account"
          error={f.account_id}
          hint={balances.length === 0 ? "Open an account first." : undefined}
        >
          <select {...described("movement-account", f.account_id, balances.length === 0 ? "hint" : undefined)} name="account_id">
            {balances.map((b) => (
              <option key={b.accountId} value={b.accountId}>
                {b.name} ({b.currency})
              </option>
            ))}
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
            {categories.map((c) => (
              <option key={c.categoryId} value={c.categoryId}>
                {c.name}
              </option>
            ))}
          </select>
        </Field>
        <FormProblem problems={trouble} />
        <button type="submit">Record</button>
        <p class="status" role="status">
          {status}
        </p>
      </form>
    </section>
  );
}

function Balances(props: { balances: Balance[] }) {
  return (
    <section aria-labelledby="balances-title">
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

function Movements(props: { ledger: Ledger; changes: number }) {
  // Tokens of the pages before the current one; the current page's own token last.
  const [pages, setPages] = useState<string[]>([""]);
  const [movements, setMovements] = useState<Movement[]>([]);
  const [next, setNext] = useState("");
  const [trouble, setTrouble] = useState<string>();
  const token = pages[pages.length - 1];
  useEffect(() => setPages([""]), [props.changes]);
  useEffect(() => {
    query
      .listMovements({ pageSize: PAGE_SIZE, pageToken: token, minPosition: session.position || undefined })
      .then((response) => {
        setMovements(response.movements);
        setNext(response.nextPageToken);
        setTrouble(undefined);
      })
      .catch((error) => setTrouble(problems(error).form));
  }, [token, props.changes]);
  const accounts = new Map(props.ledger.balances.map((b) => [b.accountId, b.name]));
  const categories = new Map(props.ledger.categories.map((c) => [c.categoryId, c.name]));
  return (
    <section aria-labelledby="movements-title">
      <h2 id="movements-title">Movements</h2>
      {trouble && (
        <p class="error form-error" role="alert">
          {trouble}
        </p>
      )}
      {movements.length === 0 ? (
        <p class="empty">No movements yet.</p>
      ) : (
        <div class="table-wrap">
          <table class="movements">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Description</th>
                <th scope="col">Category</th>
                <th scope="col" class="col-account">
                  Account
                </th>
                <th scope="col" class="amount">
                  Amount
                </th>
              </tr>
            </thead>
            <tbody>
              {movements.map((m) => {
                const income = m.direction === Direction.INCOME;
                return (
                  <tr key={m.movementId} class={m.voided ? "voided" : undefined}>
                    <td class="col-date">{day(m.occurredOn)}</td>
                    <td class="col-description">{m.description}</td>
                    <td class="col-category">{categories.get(m.categoryId) ?? (m.categoryId ? "…" : "—")}</td>
                    <td class="col-account">{accounts.get(m.accountId) ?? "…"}</td>
                    <td class={income ? "amount income" : "amount expense"}>
                      {income ? "+" : "−"}
                      {money(m.amount, m.currency)}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Movement pages">
        <button type="button" class="secondary" disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>
          Previous page
        </button>
        <span>Page {pages.length}</span>
        <button type="button" class="secondary" disabled={!next} onClick={() => setPages([...pages, next])}>
          Next page
        </button>
      </nav>
    </section>
  );
}

function App() {
  const [email, setEmail] = useState<string | null>(null);
  const [notice, setNotice] = useState<string>();
  useEffect(() => {
    session.onEnded = (reason) => {
      setNotice(reason);
      setEmail(null);
    };
  }, []);
  if (email === null || !session.signedIn) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(who) => {
          setNotice(undefined);
          setEmail(who);
        }}
      />
    );
  }
  return (
    <Home
      email={email}
      onLoggedOut={() => {
        setNotice("You are logged out.");
        setEmail(null);
      }}
    />
  );
}

render(<App />, document.getElementById("app")!);
