// Income against expense, month by month, for the last six months: a plain SVG per currency (no
// chart library), with the same numbers in a table beside it for anyone who cannot see bars.
import { useEffect, useState } from "preact/hooks";
import { problems, query, session } from "./api";
import { Direction } from "./gen/cashflow/v1/ledger_pb";
import type { CategorySummaryRow } from "./gen/cashflow/v1/query_pb";
import { addMonths, decimal, money, monthName, shortMonth, thisMonth, units } from "./format";
import { Alert } from "./ui";

const MONTHS = 6;

type Totals = { income: bigint; expense: bigint };
/** Per currency, per month (oldest first), income and expense in ten-thousandths. */
type Series = Map<string, Map<string, Totals>>;

function series(rows: CategorySummaryRow[], months: string[]): Series {
  const byCurrency: Series = new Map();
  for (const row of rows) {
    let byMonth = byCurrency.get(row.currency);
    if (!byMonth) {
      byMonth = new Map(months.map((m) => [m, { income: 0n, expense: 0n }]));
      byCurrency.set(row.currency, byMonth);
    }
    const totals = byMonth.get(row.month);
    if (!totals) continue;
    if (row.direction === Direction.INCOME) totals.income += units(row.total);
    else if (row.direction === Direction.EXPENSE) totals.expense += units(row.total);
  }
  return byCurrency;
}

export function MonthChart(props: { changes: number }) {
  const [data, setData] = useState<Series>(new Map());
  const [trouble, setTrouble] = useState<string>();
  const last = thisMonth();
  const months = Array.from({ length: MONTHS }, (_, i) => addMonths(last, i - (MONTHS - 1)));
  useEffect(() => {
    query
      .getCategorySummary({ from: months[0], to: last, minPosition: session.position || undefined })
      .then((response) => {
        setData(series(response.rows, months));
        setTrouble(undefined);
      })
      .catch((error) => setTrouble(problems(error).form));
  }, [props.changes, last]);
  return (
    <section aria-labelledby="chart-title" id="chart">
      <h2 id="chart-title">Income and expense by month</h2>
      <Alert text={trouble} />
      {data.size === 0 ? (
        <p class="empty">Nothing recorded in the last {MONTHS} months.</p>
      ) : (
        [...data].map(([currency, byMonth]) => <Bars key={currency} currency={currency} byMonth={byMonth} />)
      )}
    </section>
  );
}

const WIDTH = 600;
const HEIGHT = 220;
const AXIS = 30;
const TOP = 8;

function Bars(props: { currency: string; byMonth: Map<string, Totals> }) {
  const entries = [...props.byMonth];
  const peak = entries.reduce((max, [, t]) => [t.income, t.expense, max].reduce((a, b) => (b > a ? b : a)), 1n);
  const slot = WIDTH / entries.length;
  const bar = slot * 0.32;
  const plot = HEIGHT - AXIS - TOP;
  const height = (value: bigint) => (Number(value) / Number(peak)) * plot;
  const label = (month: string, kind: string, value: bigint) =>
    `${monthName(month)}: ${kind} ${money(decimal(value), props.currency)}`;
  const titleId = `chart-${props.currency}`;
  return (
    <figure class="chart">
      <figcaption id={titleId}>
        {props.currency}: <span class="key income-key">income</span> and <span class="key expense-key">expense</span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby={titleId}>
        <line x1="0" x2={WIDTH} y1={HEIGHT - AXIS} y2={HEIGHT - AXIS} class="axis" />
        {entries.map(([month, t], i) => {
          const x = i * slot + slot / 2;
          return (
            <g key={month}>
              <rect class="bar-income" x={x - bar - 1} width={bar} y={HEIGHT - AXIS - height(t.income)} height={height(t.income)}>
                <title>{label(month, "income", t.income)}</title>
              </rect>
              <rect class="bar-expense" x={x + 1} width={bar} y={HEIGHT - AXIS - height(t.expense)} height={height(t.expense)}>
                <title>{label(month, "expense", t.expense)}</title>
              </rect>
              <text x={x} y={HEIGHT - 6} text-anchor="middle">
                {shortMonth(month)}
              </text>
            </g>
          );
        })}
      </svg>
      <table class="chart-table">
        <caption class="visually-hidden">Income and expense in {props.currency} by month</caption>
        <thead>
          <tr>
            <th scope="col">Month</th>
            <th scope="col" class="amount">
              Income
            </th>
            <th scope="col" class="amount">
              Expense
            </th>
          </tr>
        </thead>
        <tbody>
          {entries
            .filter(([, t]) => t.income !== 0n || t.expense !== 0n)
            .map(([month, t]) => (
              <tr key={month}>
                <th scope="row">{monthName(month)}</th>
                <td class="amount income">{money(decimal(t.income), props.currency)}</td>
                <td class="amount expense">{money(decimal(t.expense), props.currency)}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </figure>
  );
}
