// What every screen's forms share: a labelled field with the service's words under it, the form's
// own problem and status lines, and one hook for submitting a form as a command.
import type { ComponentChildren } from "preact";
import { useRef, useState } from "preact/hooks";
import { commandId, problems, type Problems } from "./api";

export const NO_PROBLEMS: Problems = { fields: {} };

/** A labelled control with the service's words about it underneath. */
export function Field(props: { id: string; label: string; error?: string; hint?: string; children: ComponentChildren }) {
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
export function described(id: string, error?: string, hint?: string) {
  return {
    id,
    "aria-invalid": error ? ("true" as const) : undefined,
    "aria-describedby": error ? `${id}-error` : hint ? `${id}-hint` : undefined,
  };
}

/** A problem that names no field: said once, for the whole form. */
export function FormProblem(props: { problems: Problems }) {
  return props.problems.form ? <Alert text={props.problems.form} /> : null;
}

export function Alert(props: { text?: string }) {
  return props.text ? (
    <p class="error form-error" role="alert">
      {props.text}
    </p>
  ) : null;
}

/** What the last submission did, announced politely. */
export function Status(props: { text: string }) {
  return (
    <p class="status" role="status">
      {props.text}
    </p>
  );
}

/** What a form's submit handler gets: its data, the command id of this attempt, the form. */
export type Submission = {
  data: FormData;
  commandId: string;
  form: HTMLFormElement;
  submitter: HTMLButtonElement | null;
};

/**
 * A form submitted as one command: the handler's answer becomes the status line and the service's
 * errors land under the fields they name (`shown`: the request fields the form has a control
 * for; any other is said for the whole form). One command id per attempt, renewed only after
 * success, so a resubmission after a lost answer is not applied twice.
 */
export function useForm(shown: readonly string[], submit: (submission: Submission) => Promise<string | void>) {
  const id = useRef(commandId());
  const [trouble, setTrouble] = useState<Problems>(NO_PROBLEMS);
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  const onSubmit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const submitter = event.submitter as HTMLButtonElement | null;
    setStatus("");
    setBusy(true);
    try {
      const said = await submit({ data: new FormData(form), commandId: id.current, form, submitter });
      id.current = commandId();
      setTrouble(NO_PROBLEMS);
      setStatus(said ?? "");
    } catch (error) {
      setTrouble(problems(error, shown));
    } finally {
      setBusy(false);
    }
  };
  return { onSubmit, fields: trouble.fields, problems: trouble, status, busy };
}

/** A form value as a string, as typed ("" when absent). */
export function text(data: FormData, name: string): string {
  const value = data.get(name);
  return typeof value === "string" ? value : "";
}
