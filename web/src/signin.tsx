// The first screen: sign up or log in (the tokens stay in memory, see api.ts).
import { auth, session } from "./api";
import { described, Field, FormProblem, text, useForm } from "./ui";

export function SignIn(props: { onSignedIn: (email: string) => void; notice?: string }) {
  const form = useForm(["email", "password", "display_name"], async ({ data, submitter }) => {
    const email = text(data, "email");
    const password = text(data, "password");
    if (submitter?.value === "sign-up") {
      await auth.register({ email, password, displayName: text(data, "name") });
    }
    session.start(await auth.login({ email, password }));
    props.onSignedIn(email);
  });
  const f = form.fields;
  return (
    <main class="sign-in">
      <h1>Cashflow</h1>
      <p>Your accounts, income and expenses in one place.</p>
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <form onSubmit={form.onSubmit} aria-busy={form.busy} noValidate>
        <Field id="email" label="Email" error={f.email}>
          <input {...described("email", f.email)} name="email" type="email" autocomplete="username" />
        </Field>
        <Field id="password" label="Password" error={f.password} hint="At least 10 characters to sign up.">
          <input
            {...described("password", f.password, "hint")}
            name="password"
            type="password"
            autocomplete="current-password"
          />
        </Field>
        <Field id="name" label="Name" error={f.display_name} hint="Only needed to sign up.">
          <input {...described("name", f.display_name, "hint")} name="name" autocomplete="name" />
        </Field>
        <FormProblem problems={form.problems} />
        <div class="actions">
          <button type="submit" value="log-in" disabled={form.busy}>
            Log in
          </button>
          <button type="submit" value="sign-up" class="secondary" disabled={form.busy}>
            Sign up
          </button>
        </div>
      </form>
    </main>
  );
}
