// Receipts: a photo (the camera on a phone) uploaded in one grpc-web call (UploadInvoiceFile),
// watched while the service reads it, the movement it becomes, and the person's corrections of
// what was misread.
import { useEffect, useRef, useState } from "preact/hooks";
import { Code, ConnectError, invoices, problems, query, session } from "./api";
import { InvoiceStatus, type Invoice } from "./gen/cashflow/v1/invoice_pb";
import { day, money } from "./format";
import { AccountOptions, type Done, type Ledger } from "./ledger";
import { Alert, described, Field, FormProblem, Status, text, useForm } from "./ui";

const SHOWN = 5;
/** The request fields the upload form has a control for: the file is content, name and type. */
const UPLOAD_FIELDS = ["content", "filename", "content_type", "account_id"];
const POLL_MS = 1_000;
/** How long to wait for the ledger's read model to show a receipt's movement. */
const MOVEMENT_WAIT_MS = 15_000;

/** Resolves once the ledger's read model has the movement (it may lag the invoices' one). */
async function movementShown(movementId: string): Promise<void> {
  const until = Date.now() + MOVEMENT_WAIT_MS;
  for (;;) {
    try {
      await query.getMovement({ movementId });
      return;
    } catch (error) {
      if (!(error instanceof ConnectError && error.code === Code.NotFound) || Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

export function Receipts(props: { ledger: Ledger; changes: number; onDone: Done; onMovement: () => void }) {
  const [listed, setListed] = useState<Invoice[]>([]);
  const [trouble, setTrouble] = useState<string>();
  const [poll, setPoll] = useState(0);
  const [open, setOpen] = useState<string>();
  /** Receipts this page saw being read: when one settles with a movement, the ledger is read again. */
  const reading = useRef(new Set<string>());
  const pending = listed.some((i) => i.status === InvoiceStatus.UPLOADED);
  useEffect(() => {
    let current = true;
    invoices
      .listInvoices({ pageSize: SHOWN, minPosition: session.position || undefined })
      .then((response) => {
        if (!current) return;
        setListed(response.invoices);
        setTrouble(undefined);
        for (const invoice of response.invoices) {
          if (invoice.status === InvoiceStatus.UPLOADED) {
            reading.current.add(invoice.invoiceId);
          } else if (reading.current.delete(invoice.invoiceId) && invoice.movementId) {
            movementShown(invoice.movementId)
              .then(props.onMovement)
              .catch((error) => setTrouble(problems(error).form));
          }
        }
      })
      .catch((error) => current && setTrouble(problems(error).form));
    return () => {
      current = false;
    };
  }, [props.changes, poll]);
  useEffect(() => {
    if (!pending) return;
    const timer = setTimeout(() => setPoll((n) => n + 1), POLL_MS);
    return () => clearTimeout(timer);
  }, [pending, listed]);
  const form = useForm(UPLOAD_FIELDS, async ({ data, commandId, form }) => {
    const file = data.get("receipt");
    const picked = file instanceof File && file.size > 0 ? file : undefined;
    const response = await invoices.uploadInvoiceFile({
      commandId,
      filename: picked?.name ?? "",
      contentType: picked?.type ?? "",
      accountId: text(data, "account_id") || undefined,
      content: picked ? new Uint8Array(await picked.arrayBuffer()) : new Uint8Array(),
    });
    form.reset();
    reading.current.add(response.invoiceId);
    setOpen(undefined);
    props.onDone(response.position);
    return `Uploaded ${picked?.name ?? "the receipt"}.`;
  });
  const f = form.fields;
  const noAccount = props.ledger.balances.length === 0;
  return (
    <section aria-labelledby="receipts-title" id="receipts">
      <h2 id="receipts-title">Receipts</h2>
      <form onSubmit={form.onSubmit} noValidate>
        <Field id="receipt" label="Receipt" error={f.content ?? f.filename ?? f.content_type} hint="A photo of the receipt.">
          <input
            {...described("receipt", f.content ?? f.filename ?? f.content_type, "hint")}
            name="receipt"
            type="file"
            accept="image/*"
            capture="environment"
          />
        </Field>
        <Field
          id="receipt-account"
          label="Receipt account"
          error={f.account_id}
          hint={noAccount ? "Open an account first." : "The account its movement goes to."}
        >
          <select {...described("receipt-account", f.account_id, "hint")} name="account_id">
            <AccountOptions balances={props.ledger.balances} />
          </select>
        </Field>
        <FormProblem problems={form.problems} />
        <button type="submit" disabled={form.busy}>
          Upload
        </button>
        <Status text={form.status} />
      </form>
      <Alert text={trouble} />
      {listed.length > 0 && (
        <ul class="receipts">
          {listed.map((invoice) => (
            <ReceiptItem
              key={invoice.invoiceId}
              invoice={invoice}
              open={open === invoice.invoiceId}
              onToggle={() => setOpen(open === invoice.invoiceId ? undefined : invoice.invoiceId)}
              onDone={props.onDone}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function standing(invoice: Invoice): string {
  switch (invoice.status) {
    case InvoiceStatus.UPLOADED:
      return "Reading…";
    case InvoiceStatus.FAILED:
      return `Could not be read: ${invoice.failureReason || "try another photo"}`;
    default:
      return invoice.movementId ? "Recorded as a movement" : "Needs a look: check what was read and correct it";
  }
}

function ReceiptItem(props: { invoice: Invoice; open: boolean; onToggle: () => void; onDone: Done }) {
  const i = props.invoice;
  const settled = i.status !== InvoiceStatus.UPLOADED;
  return (
    <li class="receipt">
      <div class="receipt-head">
        <strong>{i.merchant || i.filename || "Receipt"}</strong>
        <span class={`receipt-status status-${InvoiceStatus[i.status]?.toLowerCase()}`}>{standing(i)}</span>
      </div>
      {settled && (
        <dl class="scanned">
          <dt>Merchant</dt>
          <dd>{i.merchant || "—"}</dd>
          <dt>Date</dt>
          <dd>{i.issuedOn ? day(i.issuedOn) : "—"}</dd>
          <dt>Total</dt>
          <dd>{i.total ? (i.currency ? money(i.total, i.currency) : i.total) : "—"}</dd>
        </dl>
      )}
      {settled && i.status !== InvoiceStatus.FAILED && (
        <button type="button" class="secondary" aria-expanded={props.open} onClick={props.onToggle}>
          {props.open ? "Cancel correction" : "Correct"}
        </button>
      )}
      {props.open && <Correction invoice={i} onDone={props.onDone} />}
    </li>
  );
}

/** The person's reading of a misread field; only the fields they changed are sent. */
function Correction(props: { invoice: Invoice; onDone: Done }) {
  const i = props.invoice;
  const form = useForm(["merchant", "issued_on", "total"], async ({ data, commandId }) => {
    const changed = (name: string, was: string) => {
      const value = text(data, name).trim();
      return value !== "" && value !== was ? value : undefined;
    };
    const response = await invoices.correctInvoice({
      commandId,
      invoiceId: i.invoiceId,
      merchant: changed("merchant", i.merchant),
      issuedOn: changed("issued_on", i.issuedOn),
      total: changed("total", i.total),
    });
    props.onDone(response.position);
    return "Corrected.";
  });
  const f = form.fields;
  return (
    <form class="correction" onSubmit={form.onSubmit} noValidate>
      <Field id="invoice-merchant" label="Merchant" error={f.merchant}>
        <input {...described("invoice-merchant", f.merchant)} name="merchant" defaultValue={i.merchant} autocomplete="off" />
      </Field>
      <div class="row">
        <Field id="invoice-issued-on" label="Issued on" error={f.issued_on}>
          <input {...described("invoice-issued-on", f.issued_on)} name="issued_on" type="date" defaultValue={i.issuedOn} />
        </Field>
        <Field id="invoice-total" label="Total" error={f.total}>
          <input
            {...described("invoice-total", f.total)}
            name="total"
            inputMode="decimal"
            defaultValue={i.total}
            autocomplete="off"
          />
        </Field>
      </div>
      <FormProblem problems={form.problems} />
      <button type="submit" disabled={form.busy}>
        Save correction
      </button>
      <Status text={form.status} />
    </form>
  );
}
