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
