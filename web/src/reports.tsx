// Reports: ask for a period's PDF or CSV, watch it being made, and download it as a file.
import { useEffect, useState } from "preact/hooks";
import { problems, reports, session } from "./api";
import { ReportFormat, ReportStatus, type Report } from "./gen/cashflow/v1/report_pb";
import { day, monthDays, thisMonth } from "./format";
import { type Done } from "./ledger";
import { Alert, described, Field, FormProblem, Status, text, useForm } from "./ui";

const SHOWN = 5;
const POLL_MS = 1_000;

const FORMATS: Record<string, { format: ReportFormat; type: string; extension: string }> = {
  pdf: { format: ReportFormat.PDF, type: "application/pdf", extension: "pdf" },
  csv: { format: ReportFormat.CSV, type: "text/csv", extension: "csv" },
};

function kind(report: Report) {
  return report.format === ReportFormat.CSV ? FORMATS.csv : FORMATS.pdf;
}

export function Reports(props: { changes: number; onDone: Done }) {
  const [listed, setListed] = useState<Report[]>([]);
  const [trouble, setTrouble] = useState<string>();
  const [poll, setPoll] = useState(0);
  const pending = listed.some((r) => r.status === ReportStatus.PENDING);
  useEffect(() => {
    let current = true;
    reports
      .listReports({ pageSize: SHOWN, minPosition: session.position || undefined })
      .then((response) => {
        if (!current) return;
        setListed(response.reports);
        setTrouble(undefined);
      })
      .catch((error) => current && setTrouble(problems(error).form));
    return () => {
      current = false;
    };
  }, [props.changes, poll]);
  // While one is being made, look again every second.
  useEffect(() => {
    if (!pending) return;
    const timer = setTimeout(() => setPoll((n) => n + 1), POLL_MS);
    return () => clearTimeout(timer);
  }, [pending, listed]);
  const form = useForm(["from", "to", "format"], async ({ data, commandId }) => {
    const chosen = FORMATS[text(data, "format")] ?? FORMATS.pdf;
    const response = await reports.requestReport({
      commandId,
      from: text(data, "from"),
      to: text(data, "to"),
      format: chosen.format,
    });
    props.onDone(response.position);
    return "Report requested.";
  });
  const f = form.fields;
  const month = monthDays(thisMonth());
  return (
    <section aria-labelledby="reports-title" id="reports">
      <h2 id="reports-title">Reports</h2>
      <form onSubmit={form.onSubmit} noValidate>
        <div class="row">
          <Field id="report-from" label="From" error={f.from}>
            <input {...described("report-from", f.from)} name="from" type="date" defaultValue={month.from} />
          </Field>
          <Field id="report-to" label="To" error={f.to}>
            <input {...described("report-to", f.to)} name="to" type="date" defaultValue={month.to} />
          </Field>
        </div>
        <Field id="report-format" label="Format" error={f.format}>
          <select {...described("report-format", f.format)} name="format">
            <option value="pdf">PDF</option>
            <option value="csv">CSV (spreadsheet)</option>
          </select>
        </Field>
        <FormProblem problems={form.problems} />
        <button type="submit" disabled={form.busy}>
          Request report
        </button>
        <Status text={form.status} />
      </form>
      <Alert text={trouble} />
      {listed.length > 0 && (
        <ul class="reports">
          {listed.map((r) => (
            <ReportItem key={r.reportId} report={r} />
          ))}
        </ul>
      )}
    </section>
  );
}

function ReportItem(props: { report: Report }) {
  const r = props.report;
  const [trouble, setTrouble] = useState<string>();
  const [busy, setBusy] = useState(false);
  const { type, extension } = kind(r);
  const id = `report-${r.reportId}`;
  const download = async () => {
    setBusy(true);
    setTrouble(undefined);
    try {
      const chunks: Uint8Array<ArrayBuffer>[] = [];
      for await (const part of reports.downloadReport({ reportId: r.reportId }, { timeoutMs: 60_000 })) {
        chunks.push(part.chunk as Uint8Array<ArrayBuffer>);
      }
      const url = URL.createObjectURL(new Blob(chunks, { type }));
      const link = document.createElement("a");
      link.href = url;
      link.download = `cashflow-${r.from}-to-${r.to}.${extension}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      setTrouble(problems(error).form);
    } finally {
      setBusy(false);
    }
  };
  const status =
    r.status === ReportStatus.READY
      ? `ready, ${Math.max(1, Math.round(Number(r.sizeBytes) / 1024))} KB`
      : r.status === ReportStatus.FAILED
        ? `could not be made: ${r.failureReason || "try again"}`
        : "being made…";
  return (
    <li class="report">
      <span id={id}>
        {extension.toUpperCase()}, {day(r.from)} to {day(r.to)}: <em>{status}</em>
      </span>
      {r.status === ReportStatus.READY && (
        <button type="button" class="secondary" aria-describedby={id} onClick={download} disabled={busy}>
          Download
        </button>
      )}
      <Alert text={trouble} />
    </li>
  );
}
