// The person's notifications: the latest ones, then each new one as the service raises it
// (WatchNotifications, a server stream over grpc-web), announced to screen readers.
import { useEffect, useState } from "preact/hooks";
import { Code, ConnectError, commandId, notifications, problems, session } from "./api";
import type { Notification } from "./gen/cashflow/v1/notification_pb";
import { moment } from "./format";
import { Alert } from "./ui";

const SHOWN = 8;
/** After the stream ends or breaks, open it again this soon (and list what was missed). */
const RECONNECT_MS = 3_000;

function merge(known: Notification[], fresh: Notification[]): Notification[] {
  const ids = new Set(fresh.map((n) => n.notificationId));
  const all = [...fresh, ...known.filter((n) => !ids.has(n.notificationId))];
  all.sort((a, b) => Number((b.createdAt?.seconds ?? 0n) - (a.createdAt?.seconds ?? 0n)));
  return all.slice(0, SHOWN);
}

export function Notifications() {
  const [shown, setShown] = useState<Notification[]>([]);
  const [trouble, setTrouble] = useState<string>();
  const [live, setLive] = useState(false);
  useEffect(() => {
    const stop = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    const watch = async () => {
      // Listed once the stream's headers are in: the service has noted where the stream starts
      // before it answers them, so whatever the listing misses, the stream brings.
      const list = () => {
        setLive(true);
        setTrouble(undefined);
        notifications
          .listNotifications({ pageSize: SHOWN, minPosition: session.position || undefined }, { signal: stop.signal })
          .then((r) => setShown((known) => merge(known, r.notifications)))
          .catch((error) => stop.signal.aborted || setTrouble(problems(error).form));
      };
      try {
        const stream = notifications.watchNotifications({}, { signal: stop.signal, timeoutMs: 0, onHeader: list });
        for await (const notification of stream) {
          setShown((known) => merge(known, [notification]));
        }
      } catch (error) {
        if (stop.signal.aborted || (error instanceof ConnectError && error.code === Code.Canceled)) return;
        if (!session.signedIn) return;
        setTrouble(`Live notifications paused: ${problems(error).form ?? "the connection broke"} Reconnecting…`);
      }
      setLive(false);
      if (!stop.signal.aborted) retry = setTimeout(() => void watch(), RECONNECT_MS);
    };
    void watch();
    return () => {
      clearTimeout(retry);
      stop.abort();
    };
  }, []);
  const unread = shown.filter((n) => !n.read);
  const markRead = async () => {
    try {
      const response = await notifications.markRead({
        commandId: commandId(),
        notificationIds: unread.map((n) => n.notificationId),
      });
      session.saw(response.position);
      const ids = new Set(unread.map((n) => n.notificationId));
      setShown((known) => known.map((n) => (ids.has(n.notificationId) ? { ...n, read: true } : n)));
    } catch (error) {
      setTrouble(problems(error).form);
    }
  };
  return (
    <section aria-labelledby="notifications-title" id="notifications">
      <div class="section-head">
        <h2 id="notifications-title">
          Notifications {unread.length > 0 && <span class="badge">{unread.length} new</span>}
        </h2>
        <span class={live ? "live on" : "live"}>{live ? "Live" : "Offline"}</span>
      </div>
      <Alert text={trouble} />
      <ul class="notifications" aria-live="polite" aria-relevant="additions">
        {shown.map((n) => (
          <li key={n.notificationId} class={n.read ? "read" : "unread"}>
            <strong>{n.title}</strong>
            <span>{n.body}</span>
            {n.createdAt && <time>{moment(n.createdAt.seconds)}</time>}
          </li>
        ))}
      </ul>
      {shown.length === 0 && <p class="empty">Nothing yet. Budgets, receipts and reports tell you here.</p>}
      {unread.length > 0 && (
        <button type="button" class="secondary" onClick={markRead}>
          Mark all read
        </button>
      )}
    </section>
  );
}
