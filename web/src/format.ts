// Money and dates in the person's locale. Amounts arrive as exact decimal strings and are
// formatted as strings (Intl rounds them to the currency's own decimals, no float in between).

const moneyFormats = new Map<string, Intl.NumberFormat>();

export function money(amount: string, currency: string): string {
  let format = moneyFormats.get(currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch {
      return `${amount} ${currency}`;
    }
    moneyFormats.set(currency, format);
  }
  // A decimal string is formatted exactly (Intl.NumberFormat v3).
  return format.format(amount as unknown as number);
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

/** A calendar date ("YYYY-MM-DD") in the person's locale, the same day wherever they are. */
export function day(isoDate: string): string {
  const [y, m, d] = isoDate.split("-").map(Number);
  if (!y || !m || !d) return isoDate;
  return dateFormat.format(new Date(Date.UTC(y, m - 1, d)));
}

/** Today in the person's time zone, as "YYYY-MM-DD". */
export function today(): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** An instant (seconds since the epoch) in the person's locale and time zone. */
export function moment(seconds: bigint | number): string {
  return timeFormat.format(new Date(Number(seconds) * 1000));
}

const monthFormat = new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric", timeZone: "UTC" });

/** A month ("YYYY-MM") in the person's locale: "Nov 2026". */
export function monthName(isoMonth: string): string {
  const [y, m] = isoMonth.split("-").map(Number);
  if (!y || !m) return isoMonth;
  return monthFormat.format(new Date(Date.UTC(y, m - 1, 1)));
}

const shortMonthFormat = new Intl.DateTimeFormat(undefined, { month: "short", timeZone: "UTC" });

/** A month's short name alone ("Nov"), for a chart's axis. */
export function shortMonth(isoMonth: string): string {
  const [y, m] = isoMonth.split("-").map(Number);
  if (!y || !m) return isoMonth;
  return shortMonthFormat.format(new Date(Date.UTC(y, m - 1, 1)));
}

/** This month in the person's time zone, as "YYYY-MM". */
export function thisMonth(): string {
  return today().slice(0, 7);
}

/** The month `delta` months from `isoMonth` ("YYYY-MM"). */
export function addMonths(isoMonth: string, delta: number): string {
  const [y, m] = isoMonth.split("-").map(Number);
  const index = y * 12 + (m - 1) + delta;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, "0")}`;
}

/** The first and last day of a month ("YYYY-MM"), as "YYYY-MM-DD". */
export function monthDays(isoMonth: string): { from: string; to: string } {
  const [y, m] = isoMonth.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return { from: `${isoMonth}-01`, to: `${isoMonth}-${String(last).padStart(2, "0")}` };
}

// Exact sums of decimal strings (at most 4 places, as the service sends them), in ten-thousandths.
const SCALE = 10_000n;

export function units(amount: string): bigint {
  const negative = amount.startsWith("-");
  const [whole, fraction = ""] = amount.replace(/^[-+]/, "").split(".");
  const value = BigInt(whole || "0") * SCALE + BigInt((fraction + "0000").slice(0, 4));
  return negative ? -value : value;
}

export function decimal(value: bigint): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const fraction = String(abs % SCALE).padStart(4, "0");
  return `${negative ? "-" : ""}${abs / SCALE}.${fraction}`;
}
