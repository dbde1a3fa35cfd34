// The service over grpc-web, on the origin that served the app: generated clients, the session
// (tokens in memory only), and the service's errors turned into words per form field.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AuthService, type TokenPair } from "./gen/cashflow/v1/auth_pb";
import { InvoiceService } from "./gen/cashflow/v1/invoice_pb";
import { LedgerService } from "./gen/cashflow/v1/ledger_pb";
import { NotificationService } from "./gen/cashflow/v1/notification_pb";
import { QueryService } from "./gen/cashflow/v1/query_pb";
import { ReportService } from "./gen/cashflow/v1/report_pb";
import { BadRequestSchema } from "./gen/google/rpc/error_details_pb";

/** Refresh this long before the access token expires, and never sooner than this after login. */
const REFRESH_MARGIN_MS = 60_000;
const MIN_REFRESH_MS = 5_000;

/** After a refresh that failed for want of the service (not refused), try again this soon. */
const REFRESH_RETRY_MS = 5_000;

type Tokens = { access: string; refresh: string };

/** The service said no to the refresh token itself (spent, revoked, expired): the session is over. */
function refused(error: unknown): boolean {
  return (
    error instanceof ConnectError &&
    [Code.Unauthenticated, Code.InvalidArgument, Code.NotFound, Code.PermissionDenied].includes(error.code)
  );
}

/**
 * One signed-in person. Tokens live only in this object (no storage a script could read later);
 * a reload means logging in again.
 */
export class Session {
  private tokens: Tokens | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The refresh in flight: a refresh token is single-use, and spending one twice revokes the session. */
  private refreshing: Promise<void> | null = null;
  /** The highest command position seen: queries wait for it, so a person reads their own writes. */
  position = 0n;
  onEnded: (reason: string) => void = () => {};

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  get accessToken(): string | undefined {
    return this.tokens?.access;
  }

  start(pair: TokenPair): void {
    this.tokens = { access: pair.accessToken, refresh: pair.refreshToken };
    clearTimeout(this.timer);
    const seconds = Number(pair.expiresIn);
    const delay = Math.max(MIN_REFRESH_MS, seconds * 1000 - REFRESH_MARGIN_MS);
    this.timer = setTimeout(() => void this.refresh(), Math.min(delay, seconds * 800));
  }

  /**
   * Spends the refresh token for a new pair: on a timer before the access token expires, or when
   * a call found it expired (a laptop that slept through the timer). One at a time.
   */
  refresh(): Promise<void> {
    this.refreshing ??= this.spendRefreshToken().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async spendRefreshToken(): Promise<void> {
    const refreshToken = this.tokens?.refresh;
    if (!refreshToken) return;
    try {
      this.start(await auth.refresh({ refreshToken }));
    } catch (error) {
      if (refused(error)) {
        this.end();
        this.onEnded(`Your session ended (${describe(error)}). Log in again.`);
      } else {
        // The service or the network is down for now: the token is still ours, try again soon.
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.refresh(), REFRESH_RETRY_MS);
      }
    }
  }

  async logOut(): Promise<void> {
    const refreshToken = this.tokens?.refresh;
    this.end();
    if (refreshToken) {
      try {
        await auth.logout({ refreshToken });
      } catch {
        // The tokens are gone from this page either way; the refresh token expires on its own.
      }
    }
  }

  saw(position: bigint): void {
    if (position > this.position) this.position = position;
  }

  private end(): void {
    clearTimeout(this.timer);
    this.tokens = null;
    this.position = 0n;
  }
}

export const session = new Session();

/** Sends the access token; a call refused for an expired one is sent once more after a refresh. */
const bearer: Interceptor = (next) => async (request) => {
  const send = () => {
    const token = session.accessToken;
    if (token) request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  const sentWith = session.accessToken;
  try {
    return await send();
  } catch (error) {
    const expired = error instanceof ConnectError && error.code === Code.Unauthenticated;
    if (!expired || !sentWith || request.service.typeName === AuthService.typeName) throw error;
    // Another call may have refreshed meanwhile; commands are safe to resend (command_id).
    if (session.accessToken === sentWith) await session.refresh();
    if (!session.signedIn) throw error;
    return await send();
  }
};

const transport = createGrpcWebTransport({
  baseUrl: window.location.origin,
  interceptors: [bearer],
  // Queries wait for the read model up to their deadline (min_position).
  defaultTimeoutMs: 10_000,
});

export const auth = createClient(AuthService, transport);
export const ledger = createClient(LedgerService, transport);
export const query = createClient(QueryService, transport);
export const invoices = createClient(InvoiceService, transport);
export const notifications = createClient(NotificationService, transport);
export const reports = createClient(ReportService, transport);

/** What went wrong, in words: per request field (BadRequest) and for the form as a whole. */
export type Problems = { fields: Record<string, string>; form?: string };

/**
 * The service's refusal in words: a BadRequest's violations of the `shown` fields go under those
 * fields; any other field's (one the form does not show) is said for the whole form, named, so
 * nothing the service said is dropped.
 */
export function problems(error: unknown, shown: readonly string[] = []): Problems {
  const fields: Record<string, string> = {};
  const elsewhere: string[] = [];
  if (error instanceof ConnectError) {
    for (const detail of error.findDetails(BadRequestSchema)) {
      for (const violation of detail.fieldViolations) {
        const said = sentence(violation.description);
        if (shown.includes(violation.field)) fields[violation.field] ??= said;
        else elsewhere.push(`${fieldName(violation.field)}: ${said}`);
      }
    }
    if (Object.keys(fields).length > 0 || elsewhere.length > 0) {
      return { fields, form: elsewhere.length > 0 ? elsewhere.join(" ") : undefined };
    }
  }
  return { fields, form: describe(error) };
}

/** A request field's proto name as words: "opening_balance" is "Opening balance". */
function fieldName(field: string): string {
  const words = field.replace(/[._]/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "A field";
}

/** A sentence for a person, from the service's status. */
export function describe(error: unknown): string {
  if (!(error instanceof ConnectError)) return "Something went wrong. Try again.";
  switch (error.code) {
    case Code.Unauthenticated:
      return error.rawMessage ? sentence(error.rawMessage) : "Wrong email or password.";
    case Code.ResourceExhausted:
      return `Too many attempts: ${sentence(error.rawMessage || "wait a moment and try again")}`;
    case Code.Unavailable:
      return "The service cannot be reached right now. Try again in a moment.";
    case Code.DeadlineExceeded:
      return "The service took too long to answer. Try again.";
    case Code.NotFound:
      return "That no longer exists.";
    default:
      return sentence(error.rawMessage || "Something went wrong. Try again.");
  }
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** A random (v4) UUID for a command's `command_id`; works outside secure contexts too. */
export function commandId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export { Code, ConnectError };
