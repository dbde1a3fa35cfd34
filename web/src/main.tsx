// Cashflow in the browser: the sign-in screen until someone is signed in, then their home screen.
// Layout: api.ts (clients, session, errors), ui.tsx (fields and the form hook), format.ts (money,
// dates), signin.tsx, home.tsx and one module per part of it (ledger, movements, receipts,
// budgets, reports, notifications, chart).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { session } from "./api";
import { Home } from "./home";
import { SignIn } from "./signin";
import "./style.css";

function App() {
  const [email, setEmail] = useState<string | null>(null);
  const [notice, setNotice] = useState<string>();
  useEffect(() => {
    session.onEnded = (reason) => {
      setNotice(reason);
      setEmail(null);
    };
  }, []);
  if (email === null || !session.signedIn) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(who) => {
          setNotice(undefined);
          setEmail(who);
        }}
      />
    );
  }
  return (
    <Home
      email={email}
      onLoggedOut={() => {
        setNotice("You are logged out.");
        setEmail(null);
      }}
    />
  );
}

render(<App />, document.getElementById("app")!);
