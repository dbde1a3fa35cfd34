// Movements, paged: all of them, or those of one account, category or month; with words in the
// search field, the service's search (best match first) with the words it matched marked.
import { useEffect, useRef, useState } from "preact/hooks";
import { problems, query, session, type Problems } from "./api";
import { Direction } from "./gen/cashflow/v1/ledger_pb";
import type { Movement } from "./gen/cashflow/v1/query_pb";
import { day, money, monthDays } from "./format";
import { AccountOptions, CategoryOptions, type Ledger } from "./ledger";
import { described, Field, FormProblem, NO_PROBLEMS } from "./ui";

const PAGE_SIZE = 10;
/** The request fields the filter form has a control for (the month sets from and to). */
const SHOWN = ["query", "account_id", "category_id", "from", "to"];
/** Typing pauses this long before the words are searched (Enter or the button: at once). */
const TYPING_MS = 350;

type Filters = { words: string; accountId: string; categoryId: string; month: string };
const NO_FILTERS: Filters = { words: "", accountId: "", categoryId: "", month: "" };

type Row = { movement: Movement; highlights: string[] };
type Page = { rows: Row[]; next: string; total?: bigint };

async function fetchPage(filters: Filters, pageToken: string): Promise<Page> {
  const range = filters.month ? monthDays(filters.month) : undefined;
  const selection = {
    accountId: filters.accountId || undefined,
    categoryId: filters.categoryId || undefined,
    from: range?.from,
    to: range?.to,
    pageSize: PAGE_SIZE,
    pageToken,
    minPosition: session.position || undefined,
  };
  if (filters.words.trim() === "") {
    const response = await query.listMovements(selection);
    return { rows: response.movements.map((movement) => ({ movement, highlights: [] })), next: response.nextPageToken };
  }
  const response = await query.searchMovements({ ...selection, query: filters.words.trim() });
  return {
    rows: response.hits.flatMap((hit) => (hit.movement ? [{ movement: hit.movement, highlights: hit.highlights }] : [])),
    next: response.nextPageToken,
    total: response.totalHits,
  };
}

export function Movements(props: { ledger: Ledger; changes: number }) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  // Tokens of the pages before the current one; the current page's own token last.
  const [pages, setPages] = useState<string[]>([""]);
  const [page, setPage] = useState<Page>({ rows: [], next: "" });
  const [trouble, setTrouble] = useState<Problems>(NO_PROBLEMS);
  // Browsers without a month picker show a text box: only a whole "YYYY-MM" filters.
  const [monthTyped, setMonthTyped] = useState(true);
  const token = pages[pages.length - 1];
  useEffect(() => setPages([""]), [props.changes, filters]);
  useEffect(() => {
    let current = true;
    fetchPage(filters, token)
      .then((fetched) => {
        if (!current) return;
        setPage(fetched);
        setTrouble(NO_PROBLEMS);
      })
      .catch((error) => current && setTrouble(problems(error, SHOWN)));
    return () => {
      current = false;
    };
  }, [token, props.changes, filters]);
  const filter = (change: Partial<Filters>) => setFilters((current) => ({ ...current, ...change }));
  const typing = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(typing.current), []);
  const onType = (event: Event) => {
    const words = (event.currentTarget as HTMLInputElement).value;
    clearTimeout(typing.current);
    typing.current = setTimeout(() => filter({ words }), TYPING_MS);
  };
  const onSearch = (event: SubmitEvent) => {
    event.preventDefault();
    clearTimeout(typing.current);
    filter({ words: String(new FormData(event.currentTarget as HTMLFormElement).get("q") ?? "") });
  };
  const clear = (event: Event) => {
    ((event.currentTarget as HTMLButtonElement).form as HTMLFormElement).reset();
    clearTimeout(typing.current);
    setMonthTyped(true);
    setFilters(NO_FILTERS);
  };
  const accounts = new Map(props.ledger.balances.map((b) => [b.accountId, b.name]));
  const categories = new Map(props.ledger.categories.map((c) => [c.categoryId, c.name]));
  const pickMonth = (value: string) => {
    const whole = value === "" || /^\d{4}-(0[1-9]|1[0-2])$/.test(value);
    setMonthTyped(whole);
    if (whole) filter({ month: value });
  };
  const f = trouble.fields;
  const monthError = monthTyped ? (f.from ?? f.to) : "A month as YYYY-MM, e.g. 2026-11.";
  const filtered = filters !== NO_FILTERS && Object.values(filters).some((v) => v !== "");
  return (
    <section aria-labelledby="movements-title" id="movements">
      <h2 id="movements-title">Movements</h2>
      <form class="filters" role="search" aria-label="Search and filter movements" onSubmit={onSearch} noValidate>
        <Field id="search" label="Search" error={f.query}>
          <div class="inline">
            <input
              {...described("search", f.query)}
              name="q"
              type="search"
              autocomplete="off"
              placeholder="Words or an amount"
              onInput={onType}
            />
            <button type="submit">Search</button>
          </div>
        </Field>
        <div class="row">
          <Field id="filter-account" label="Filter by account" error={f.account_id}>
            <select {...described("filter-account", f.account_id)} onChange={(e) => filter({ accountId: e.currentTarget.value })}>
              <option value="">All accounts</option>
              <AccountOptions balances={props.ledger.balances} />
            </select>
          </Field>
          <Field id="filter-category" label="Filter by category" error={f.category_id}>
            <select
              {...described("filter-category", f.category_id)}
              onChange={(e) => filter({ categoryId: e.currentTarget.value })}
            >
              <option value="">All categories</option>
              <CategoryOptions categories={props.ledger.categories} />
            </select>
          </Field>
          <Field id="filter-month" label="Month" error={monthError}>
            <input
              {...described("filter-month", monthError)}
              type="month"
              placeholder="YYYY-MM"
              onChange={(e) => pickMonth(e.currentTarget.value)}
            />
          </Field>
        </div>
        <button type="button" class="secondary" onClick={clear} disabled={!filtered}>
          Clear filters
        </button>
      </form>
      <FormProblem problems={trouble} />
      <p class="result-count" role="status">
        {page.total !== undefined
          ? `${page.total} ${page.total === 1n ? "match" : "matches"} for “${filters.words.trim()}”`
          : ""}
      </p>
      {page.rows.length === 0 ? (
        <p class="empty">{filtered ? "No movements match." : "No movements yet."}</p>
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
              {page.rows.map(({ movement: m, highlights }) => {
                const income = m.direction === Direction.INCOME;
                return (
                  <tr key={m.movementId} class={m.voided ? "voided" : undefined}>
                    <td class="col-date">{day(m.occurredOn)}</td>
                    <Description description={m.description} highlights={highlights} />
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
        <button type="button" class="secondary" disabled={!page.next} onClick={() => setPages([...pages, page.next])}>
          Next page
        </button>
      </nav>
    </section>
  );
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescape(html: string): string {
  return html.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/**
 * The description, with the words the search matched marked; what else matched (the
 * counterparty, the category, a receipt's text) underneath.
 */
function Description(props: { description: string; highlights: string[] }) {
  const own = props.highlights.find((h) => plain(h) === props.description);
  const others = props.highlights.filter((h) => h !== own);
  return (
    <td class="col-description">
      {own ? <Highlight html={own} /> : props.description}
      {others.length > 0 && (
        <span class="highlights">
          {others.map((h, i) => (
            <Highlight key={i} html={h} />
          ))}
        </span>
      )}
    </td>
  );
}

function plain(html: string): string {
  return unescape(html.replace(/<\/?mark>/g, ""));
}

/**
 * A search highlight: the service's escaped text with `<mark>`s, rendered as text and `<mark>`
 * elements, never as HTML (a description is the person's own text, whatever it contains).
 */
function Highlight(props: { html: string }) {
  const parts = props.html.split(/<mark>(.*?)<\/mark>/);
  return (
    <span class="highlight">
      {parts.map((part, i) => (i % 2 === 1 ? <mark key={i}>{unescape(part)}</mark> : unescape(part)))}
    </span>
  );
}
