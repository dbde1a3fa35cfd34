// The signed-in screen: what a person records on the left, what they read on the right.
import { useEffect, useState } from "preact/hooks";
import { problems, query, session } from "./api";
import { Budgets } from "./budgets";
import { MonthChart } from "./chart";
import { Balances, CreateCategory, OpenAccount, RecordMovement, type Ledger } from "./ledger";
import { Movements } from "./movements";
import { Notifications } from "./notifications";
import { Receipts } from "./receipts";
import { Reports } from "./reports";
import { Alert } from "./ui";

const SECTIONS = [
  ["notifications", "Notifications"],
  ["balances", "Balances"],
  ["movements", "Movements"],
  ["receipts", "Receipts"],
  ["budgets", "Budgets"],
  ["reports", "Reports"],
  ["chart", "Chart"],
] as const;

export function Home(props: { email: string; onLoggedOut: () => void }) {
  const [data, setData] = useState<Ledger>({ balances: [], categories: [] });
  // Bumped after every change, so each screen reads its part again (at the session's position).
  const [changes, setChanges] = useState(0);
  const [loadProblem, setLoadProblem] = useState<string>();
  const refresh = () => setChanges((n) => n + 1);
  const changed = (position: bigint) => {
    session.saw(position);
    refresh();
  };
  useEffect(() => {
    const minPosition = session.position || undefined;
    Promise.all([query.getBalances({ minPosition }), query.listCategories({ minPosition })])
      .then(([b, c]) => {
        setData({ balances: b.balances, categories: c.categories });
        setLoadProblem(undefined);
      })
      .catch((error) => setLoadProblem(problems(error).form));
  }, [changes]);
  const logOut = async () => {
    await session.logOut();
    props.onLoggedOut();
  };
  return (
    <>
      <header class="top">
        <h1>Cashflow</h1>
        <nav aria-label="Sections" class="sections">
          {SECTIONS.map(([id, name]) => (
            <a key={id} href={`#${id}`}>
              {name}
            </a>
          ))}
        </nav>
        <span class="who">{props.email}</span>
        <button type="button" class="secondary" onClick={logOut}>
          Log out
        </button>
      </header>
      <main class="home">
        <Alert text={loadProblem} />
        <div class="forms">
          <RecordMovement ledger={data} onDone={changed} />
          <Receipts ledger={data} changes={changes} onDone={changed} onMovement={refresh} />
          <Budgets ledger={data} changes={changes} onDone={changed} />
          <Reports changes={changes} onDone={changed} />
          <OpenAccount onDone={changed} />
          <CreateCategory onDone={changed} />
        </div>
        <div class="reading">
          <Notifications />
          <Balances balances={data.balances} />
          <Movements ledger={data} changes={changes} />
          <MonthChart changes={changes} />
        </div>
      </main>
    </>
  );
}
