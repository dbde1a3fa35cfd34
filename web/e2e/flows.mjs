// The web app's flows in Debian's Chromium, driven by playwright-core, against a running
// `cashflow serve` (CASHFLOW_URL): sign up, open an account, create a category, record
// movements, see them and the balance, page through them, errors next to their fields, log out
// and in, and a second person who sees none of it. No console errors anywhere. Screenshots of
// the main screens go to SCREENSHOT_DIR. Run by tests/web_app.rs (`cargo test --workspace`).
import { chromium } from "playwright-core";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const base = process.env.CASHFLOW_URL;
const shots = process.env.SCREENSHOT_DIR ?? "screenshots";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
// The server's access tokens live this long (CASHFLOW_ACCESS_TOKEN_TTL_SECS), and it accepts them
// this long after (its clock-skew leeway): the app must refresh them before they expire.
const tokenTtl = Number(process.env.ACCESS_TOKEN_TTL_SECS ?? "0");
const tokenLeeway = Number(process.env.ACCESS_TOKEN_LEEWAY_SECS ?? "0");
if (!base) throw new Error("set CASHFLOW_URL to a running cashflow serve, e.g. http://127.0.0.1:50051");
if (!existsSync(executablePath)) {
  throw new Error(`no Chromium at ${executablePath}: apt-get install chromium (scripts/system-packages.txt)`);
}
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // The machine's network is closed: no background connections, no sandbox as root.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const consoleErrors = [];
const run = Date.now().toString(36);
const password = "correct horse battery staple";

async function person(name) {
  const context = await browser.newContext({ locale: "en-US", timezoneId: "UTC", viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`${name}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`${name}: ${error.message}`));
  return { page, email: `${name.toLowerCase()}-${run}@example.com`, context };
}

const field = (page, label) => page.getByLabel(label, { exact: true });
const button = (page, name) => page.getByRole("button", { name, exact: true });

async function shot(page, name) {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${path}`);
}

async function signUp({ page, email }, name) {
  await page.goto(base);
  await field(page, "Email").fill(email);
  await field(page, "Password").fill(password);
  await field(page, "Name").fill(name);
  await button(page, "Sign up").click();
  await button(page, "Log out").waitFor();
}

async function record(page, { account, type, amount, date, description, category }) {
  await field(page, "Account").selectOption({ label: account });
  await field(page, "Type").selectOption({ label: type });
  await field(page, "Amount").fill(amount);
  await field(page, "Date").fill(date);
  await field(page, "Description").fill(description);
  await field(page, "Category").selectOption({ label: category ?? "No category" });
  await button(page, "Record").click();
  await page.getByRole("status").filter({ hasText: `Recorded ${description}.` }).waitFor();
}

function step(text) {
  console.log(`- ${text}`);
}

try {
  const ana = await person("Ana");
  const { page } = ana;

  step("the sign-in screen, and the service's words next to the field it names");
  await page.goto(base);
  await shot(page, "01-sign-in");
  await field(page, "Email").fill(ana.email);
  await field(page, "Password").fill("short");
  await field(page, "Name").fill("Ana");
  await button(page, "Sign up").click();
  const passwordError = page.locator("#password-error");
  await passwordError.waitFor();
  assert.match(await passwordError.innerText(), /\w{3,}/, "the password's error is in words");
  assert.equal(await field(page, "Password").getAttribute("aria-invalid"), "true");
  await shot(page, "02-sign-up-error");

  step("sign up (and so log in)");
  await field(page, "Password").fill(password);
  await button(page, "Sign up").click();
  await button(page, "Log out").waitFor();
  await page.getByText("No accounts yet.").waitFor();
  await shot(page, "03-empty-home");

  step("open an account");
  await field(page, "Account name").fill("Everyday");
  await field(page, "Currency").fill("EUR");
  await field(page, "Opening balance").fill("100");
  await button(page, "Open account").click();
  await page.getByRole("status").filter({ hasText: "Opened Everyday." }).waitFor();
  const balances = page.locator(".balances");
  await balances.getByText("€100.00").waitFor();

  step("an invalid currency is refused next to its field");
  await field(page, "Account name").fill("Odd");
  await field(page, "Currency").fill("EU");
  await button(page, "Open account").click();
  await page.locator("#currency-error").waitFor();
  await field(page, "Currency").fill("USD");
  await field(page, "Opening balance").fill("-20.5");
  await button(page, "Open account").click();
  await page.getByRole("status").filter({ hasText: "Opened Odd." }).waitFor();
  await balances.getByText("-$20.50").waitFor();

  step("create a category");
  await field(page, "Category name").fill("Groceries");
  await button(page, "Create category").click();
  await page.getByRole("status").filter({ hasText: "Created Groceries." }).waitFor();
  await field(page, "Category").locator("option", { hasText: "Groceries" }).waitFor({ state: "attached" });

  step("an amount with too many decimals is refused next to the Amount field");
  await field(page, "Account").selectOption({ label: "Everyday (EUR)" });
  await field(page, "Amount").fill("1.23456");
  await field(page, "Description").fill("Too precise");
  await button(page, "Record").click();
  await page.locator("#amount-error").waitFor();
  assert.equal(await field(page, "Amount").getAttribute("aria-invalid"), "true");
  await shot(page, "04-amount-error");

  step("record an expense and see it in the list and the balance");
  await record(page, {
    account: "Everyday (EUR)",
    type: "Expense",
    amount: "12.5",
    date: "2026-11-20",
    description: "Weekly shop",
    category: "Groceries",
  });
  const rows = page.locator("table.movements tbody tr");
  const shop = rows.filter({ hasText: "Weekly shop" });
  await shop.waitFor();
  assert.match(await shop.innerText(), /Nov 20, 2026/, "the date in the person's locale");
  assert.match(await shop.innerText(), /Groceries/);
  assert.match(await shop.innerText(), /Everyday/);
  assert.match(await shop.innerText(), /−€12\.50/, "the amount with the currency's decimals");
  await balances.getByText("€87.50").waitFor();

  step("record income");
  await record(page, {
    account: "Everyday (EUR)",
    type: "Income",
    amount: "1500",
    date: "2026-11-25",
    description: "Salary",
  });
  await rows.filter({ hasText: "Salary" }).getByText("+€1,500.00").waitFor();
  await balances.getByText("€1,587.50").waitFor();
  await shot(page, "05-home");

  step("the home screen at a phone's width");
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling at 390px (overflow ${overflow}px)`);
  await shot(page, "06-home-phone");
  await page.setViewportSize({ width: 1200, height: 900 });

  step("page through movements (10 a page)");
  for (let i = 1; i <= 9; i++) {
    await record(page, {
      account: "Odd (USD)",
      type: "Expense",
      amount: `${i}.25`,
      date: `2026-10-${String(i).padStart(2, "0")}`,
      description: `Coffee ${i}`,
    });
  }
  await rows.first().waitFor();
  assert.equal(await rows.count(), 10);
  await button(page, "Next page").click();
  await page.getByText("Page 2").waitFor();
  await rows.filter({ hasText: "Coffee 1" }).waitFor();
  assert.equal(await rows.count(), 1, "the oldest movement alone on page 2");
  await button(page, "Previous page").click();
  await page.getByText("Page 1").waitFor();
  await shop.waitFor();

  step("keyboard only: Tab to the category form and press Enter");
  await field(page, "Category name").focus();
  await page.keyboard.type("Rent");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Create category");
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "Created Rent." }).waitFor();

  if (tokenTtl > 0) {
    step(`access tokens (${tokenTtl} s) are refreshed before they expire, and a refused call is resent`);
    const isRefresh = (request) => request.url().endsWith("/cashflow.v1.AuthService/Refresh");
    let anaRefreshes = 0;
    page.on("request", (request) => (anaRefreshes += isRefresh(request) ? 1 : 0));
    // Cy's refreshes find the service unavailable until his token has expired, as if the laptop
    // had been offline: his next call is refused, waits for one refresh, and is resent.
    const cy = await person("Cy");
    let mode = "unavailable";
    let held = 0;
    let release;
    const released = new Promise((resolve) => (release = resolve));
    await cy.page.route("**/cashflow.v1.AuthService/Refresh", async (route) => {
      if (mode === "unavailable") {
        const headers = { "content-type": "application/grpc-web+proto", "grpc-status": "14", "grpc-message": "offline" };
        return route.fulfill({ status: 200, headers, body: "" });
      }
      held += 1;
      await released;
      await route.continue();
    });
    await signUp(cy, "Cy");
    await page.waitForTimeout((tokenTtl + tokenLeeway + 2) * 1000);

    await record(page, {
      account: "Everyday (EUR)",
      type: "Expense",
      amount: "3",
      date: "2026-11-26",
      description: "After refresh",
    });
    await balances.getByText("€1,584.50").waitFor();
    assert.ok(anaRefreshes >= 2, `Ana's token was refreshed on time (${anaRefreshes} refreshes)`);

    await field(cy.page, "Category name").fill("Travel");
    mode = "hold";
    const refused = cy.page.waitForResponse((r) => r.url().endsWith("/cashflow.v1.LedgerService/CreateCategory"));
    await button(cy.page, "Create category").click();
    assert.equal((await refused).headers()["grpc-status"], "16", "the expired token is refused");
    for (let waited = 0; held === 0 && waited < 5_000; waited += 50) await cy.page.waitForTimeout(50);
    await cy.page.waitForTimeout(300); // room for a second refresh, which must not come
    assert.equal(held, 1, "one refresh in flight, however many calls wait for it");
    release();
    await cy.page.getByRole("status").filter({ hasText: "Created Travel." }).waitFor();
    await cy.context.close();
  }

  step("log out, then log in again");
  await button(page, "Log out").click();
  await page.getByText("You are logged out.").waitFor();
  await field(page, "Email").fill(ana.email);
  await field(page, "Password").fill("wrong password, surely");
  await button(page, "Log in").click();
  await page.getByRole("alert").waitFor();
  await field(page, "Password").fill(password);
  await button(page, "Log in").click();
  await button(page, "Log out").waitFor();
  await shop.waitFor();

  step("a second person sees none of it");
  const ben = await person("Ben");
  await signUp(ben, "Ben");
  await ben.page.getByText("No accounts yet.").waitFor();
  await ben.page.getByText("No movements yet.").waitFor();
  assert.equal(await ben.page.getByText("Weekly shop").count(), 0);
  assert.equal(await ben.page.getByText("Everyday").count(), 0);
  assert.equal(await field(ben.page, "Category").locator("option").count(), 1, "only 'No category'");
  await shot(ben.page, "07-second-person");

  step("paths of the app load the app");
  await ben.page.goto(`${base}/movements`);
  await field(ben.page, "Email").waitFor();

  assert.deepEqual(consoleErrors, [], "no console errors");
  console.log("web flows passed");
} finally {
  await browser.close();
}
