// Amounts come from the core in hundredths of a cent (exact for Hetzner's prices), gross.

const symbols: Record<string, string> = { EUR: "€", USD: "$" };

/** `€0.0079` — an hourly price, with the digits Hetzner's prices have. */
export function perHour(centicents: number | null | undefined, currency = "EUR"): string {
  return format(centicents, currency, 4);
}

/** `€5.04` — a monthly price or a total. */
export function amount(centicents: number | null | undefined, currency = "EUR"): string {
  return format(centicents, currency, 2);
}

function format(centicents: number | null | undefined, currency: string, digits: number): string {
  if (centicents === null || centicents === undefined) return "price unknown";
  const value = (centicents / 10_000).toFixed(digits);
  const symbol = symbols[currency];
  return symbol ? `${symbol}${value}` : `${value} ${currency}`;
}
