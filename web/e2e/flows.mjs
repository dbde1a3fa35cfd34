// The web app's flows in Debian's Chromium, driven by playwright-core, against a running
// `cashflow serve` (CASHFLOW_URL) with every role: sign up, open an account, create a category,
// record movements, see them and the balance, page and filter them, search them (highlights),
// the month chart, a budget's progress and its notification arriving live, a receipt photo
// (RECEIPT) read into a movement and corrected, a report requested and downloaded, errors next
// to their fields, the keyboard alone, a phone's width, log out and in, and a second person who
// sees none of it. No console errors anywhere. Screenshots of the main screens go to
// SCREENSHOT_DIR. Run by tests/web_app.rs (`cargo test --workspace`).
import { chromium } from "playwright-core";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const base = process.env.CASHFLOW_URL;
const shots = process.env.SCREENSHOT_DIR ?? "screenshots";
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const receipt = process.env.RECEIPT;
const downloads = process.env.DOWNLOAD_DIR ?? shots;
// The server's access tokens live this long (CASHFLOW_ACCESS_TOKEN_TTL_SECS), and it accepts them
// this long after (its clock-skew leeway): the app must refresh them before they expire.
const tokenTtl = Number(process.env.ACCESS_TOKEN_TTL_SECS ?? "0");
const tokenLeeway = Number(process.env.ACCESS_TOKEN_LEEWAY_SECS ?? "0");
if (!base) throw new Error("set CASHFLOW_URL to a running cashflow serve, e.g. http://127.0.0.1:50051");
if (!receipt || !existsSync(receipt)) throw new Error("set RECEIPT to a receipt photo (tests/web_app.rs renders one)");
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
const openPages = [];
const run = Date.now().toString(36);
const password = "correct horse battery staple";

async function person(name, locale = "en-US") {
  const context = await browser.newContext({ locale, timezoneId: "UTC", viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  openPages.push([name, page]);
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

/** One part of the screen, on its own. */
async function shotOf(locator, name) {
  const path = join(shots, `${name}.png`);
  await locator.screenshot({ path });
  console.log(`screenshot ${path}`);
}

const section = (page, heading) => page.locator("section").filter({ has: page.getByRole("heading", { name: heading }) });
/** Today as the browser sees it (the contexts run in UTC). */
const today = new Date().toISOString().slice(0, 10);

async function signUp({ page, email }, name) {
  await page.goto(base);
  await field(page, "Email").fill(email);
  await field(page, "Password").fill(password);
  await field(page, "Name").fill(name);
  await button(page, "Sign up").click();
  await button(page, "Log out").waitFor();
}

async function record(page, { account, type, amount, date = today, description, category }) {
  await field(page, "Account").selectOption({ label: account });
  await field(page, "Type").selectOption({ label: type });
  await field(page, "Amount").fill(amount);
  await field(page, "Date").fill(date);
  await field(page, "Description").fill(description);
  await field(page, "Category").selectOption({ label: category ?? "No category" });
  await button(page, "Record").click();
  await page.getByRole("status").filter({ hasText: `Recorded ${description}.` }).waitFor();
}

/** The focused element: its id, or a button's text. */
const focused = (page) =>
  page.evaluate(() => {
    const active = document.activeElement;
    return active?.tagName === "BUTTON" ? active.textContent : active?.id;
  });

let stepStarted = Date.now();

/** Names the next step, with how long the one before took (BENCHMARKS.md quotes them). */
function step(text) {
  const now = Date.now();
  console.log(`  (${((now - stepStarted) / 1000).toFixed(1)} s)\n- ${text}`);
  stepStarted = now;
}

try {
  const ana = await person("Ana");
  const { page } = ana;
  let watches = 0;
  let inboxListings = 0;
  page.on("request", (r) => {
    if (r.url().endsWith("/cashflow.v1.NotificationService/WatchNotifications")) watches += 1;
    if (r.url().endsWith("/cashflow.v1.NotificationService/ListNotifications")) inboxListings += 1;
  });

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

  step("filter movements by account, category and month");
  const showing = async (count, text) => {
    await rows.filter({ hasText: text }).first().waitFor();
    await page.waitForFunction((n) => document.querySelectorAll("table.movements tbody tr").length === n, count);
  };
  await field(page, "Filter by account").selectOption({ label: "Odd (USD)" });
  await showing(9, "Coffee 9");
  assert.equal(await rows.filter({ hasText: "Everyday" }).count(), 0, "only Odd's movements");
  await field(page, "Filter by account").selectOption({ label: "All accounts" });
  await field(page, "Filter by category").selectOption({ label: "Groceries" });
  await showing(1, "Weekly shop");
  await field(page, "Filter by category").selectOption({ label: "All categories" });
  await field(page, "Month").fill("2026-10");
  await showing(9, "Coffee 1");
  assert.equal(await rows.filter({ hasText: "Weekly shop" }).count(), 0, "November's shop is not in October");
  await button(page, "Clear filters").click();
  await rows.filter({ hasText: "Salary" }).waitFor();

  step("search, with the matched words marked (and a description's own markup shown as text)");
  await record(page, { account: "Everyday (EUR)", type: "Expense", amount: "4.80", date: "2026-11-27", description: "Tea & cake <3" });
  await field(page, "Search").fill("cake");
  await button(page, "Search").click();
  await page.getByText("1 match for “cake”").waitFor();
  await showing(1, "Tea & cake <3");
  const cake = rows.first().locator(".highlight").first();
  assert.equal(await cake.innerText(), "Tea & cake <3", "the highlight's text, unescaped, never HTML");
  assert.equal(await cake.locator("mark").innerText(), "cake");
  await field(page, "Search").fill("salry"); // one typo; searched once typing pauses
  await page.getByText("1 match for “salry”").waitFor();
  await showing(1, "Salary");
  assert.equal(await rows.first().locator("mark").innerText(), "Salary");
  await field(page, "Search").fill("coffee");
  await field(page, "Filter by account").selectOption({ label: "Odd (USD)" });
  await field(page, "Month").fill("2026-10");
  await button(page, "Search").click();
  await page.getByText("9 matches for “coffee”").waitFor();
  await shotOf(section(page, "Movements"), "08-search");
  await field(page, "Search").fill("word ".repeat(60));
  await button(page, "Search").click();
  await page.locator("#search-error").waitFor();
  assert.equal(await field(page, "Search").getAttribute("aria-invalid"), "true");
  await button(page, "Clear filters").click();
  await page.locator(".result-count").filter({ hasText: /^$/ }).waitFor();
  await showing(10, "Tea & cake <3");

  step("the month chart: income against expense per currency, from the category summary");
  const chart = section(page, "Income and expense by month");
  const eur = chart.locator("figure").filter({ hasText: "EUR:" });
  await eur.locator("tr", { hasText: "Nov 2026" }).filter({ hasText: "€1,500.00" }).waitFor();
  const eurNov = await eur.locator("tr", { hasText: "Nov 2026" }).innerText();
  assert.match(eurNov, /€1,500\.00\s+€(20\.30|17\.30)/, `EUR November income and expense: ${eurNov}`);
  const usdOct = await chart.locator("figure").filter({ hasText: "USD:" }).locator("tr", { hasText: "Oct 2026" }).innerText();
  assert.match(usdOct, /\$0\.00\s+\$47\.25/, `USD October: ${usdOct}`);
  assert.equal(await eur.locator("svg rect").count(), 12, "six months, two bars each");
  assert.match(await eur.locator("svg rect.bar-income title").allTextContents().then((t) => t.join("|")), /Nov 2026: income €1,500\.00/);
  await shotOf(chart, "09-chart");

  step("a budget with its progress bar, and its 80% notification arriving live");
  const budgets = section(page, "Budgets");
  await field(page, "Budget category").selectOption({ label: "Groceries" });
  await field(page, "Budget amount").fill("50");
  await field(page, "Budget currency").selectOption("EUR");
  await button(page, "Set budget").click();
  await page.getByRole("status").filter({ hasText: "Budget set for Groceries." }).waitFor();
  const groceries = budgets.locator("li.budget", { hasText: "Groceries" });
  await groceries.waitFor();
  await record(page, { account: "Everyday (EUR)", type: "Expense", amount: "42", description: "Big shop", category: "Groceries" });
  await groceries.getByText("84.00% used").waitFor();
  assert.equal(await groceries.getByRole("progressbar").getAttribute("aria-valuenow"), "84");
  assert.match(await groceries.innerText(), /€42\.00 of €50\.00/);
  assert.match(await groceries.innerText(), /€8\.00 left/);
  const inbox = section(page, "Notifications");
  await inbox.getByText("Groceries: 80% of the budget spent").waitFor({ timeout: 30_000 });
  await shotOf(budgets, "10-budgets");
  await record(page, { account: "Everyday (EUR)", type: "Expense", amount: "10", description: "Top-up shop", category: "Groceries" });
  await groceries.getByText("104.00% used").waitFor();
  assert.match(await groceries.innerText(), /€2\.00 over/);
  await inbox.getByText("Groceries: budget reached").waitFor({ timeout: 30_000 });
  // Both arrived on the stream opened at sign-in: never reopened, the inbox listed once.
  assert.deepEqual({ watches, inboxListings }, { watches: 1, inboxListings: 1 }, "notifications came live");

  step("an invalid budget amount is refused next to its field");
  await field(page, "Budget amount").fill("-5");
  await button(page, "Set budget").click();
  await page.locator("#budget-amount-error").waitFor();
  assert.equal(await field(page, "Budget amount").getAttribute("aria-invalid"), "true");

  step("a receipt upload without a file is refused next to the Receipt field");
  const receipts = section(page, "Receipts");
  await button(page, "Upload").click();
  await page.locator("#receipt-error").waitFor();
  assert.equal(await field(page, "Receipt").getAttribute("aria-invalid"), "true");

  step("a receipt photo is uploaded, read into a movement, and its misread total corrected");
  const receiptInput = field(page, "Receipt");
  assert.equal(await receiptInput.getAttribute("accept"), "image/*");
  assert.notEqual(await receiptInput.getAttribute("capture"), null, "a phone offers its camera");
  await receiptInput.setInputFiles(receipt);
  await field(page, "Receipt account").selectOption({ label: "Everyday (EUR)" });
  await button(page, "Upload").click();
  await page.getByRole("status").filter({ hasText: "Uploaded mercadona.png" }).waitFor();
  const ticket = receipts.locator("li.receipt").first();
  await ticket.getByText("Recorded as a movement").waitFor({ timeout: 90_000 });
  assert.match(await ticket.innerText(), /MERCADONA/i);
  assert.match(await ticket.innerText(), /Nov 23, 2026/);
  assert.match(await ticket.innerText(), /€23\.45/);
  const fromReceipt = rows.filter({ hasText: "−€23.45" });
  await fromReceipt.waitFor();
  assert.match(await fromReceipt.innerText(), /Nov 23, 2026/);
  await inbox.getByText("Receipt recorded").waitFor({ timeout: 30_000 });
  await shotOf(receipts, "11-receipt");
  await ticket.getByRole("button", { name: "Correct", exact: true }).click();
  await field(page, "Total").fill("0");
  await button(page, "Save correction").click();
  await page.locator("#invoice-total-error").waitFor();
  await field(page, "Total").fill("32.45");
  await button(page, "Save correction").click();
  await page.getByRole("status").filter({ hasText: "Corrected." }).waitFor();
  await ticket.getByText("€32.45").waitFor();
  await rows.filter({ hasText: "−€32.45" }).waitFor();
  assert.equal(await rows.filter({ hasText: "−€23.45" }).and(page.locator("tr:not(.voided)")).count(), 0, "the misread movement is voided");
  await shotOf(receipts, "12-receipt-corrected");

  step("a report whose period ends before it starts is refused next to its dates");
  const reportsPart = section(page, "Reports");
  await field(page, "From").fill("2026-11-30");
  await field(page, "To").fill("2026-10-01");
  await button(page, "Request report").click();
  await page.locator("#report-from-error, #report-to-error").first().waitFor();
  assert.equal(await reportsPart.locator("li.report").count(), 0, "nothing requested");

  step("a report requested, made, and downloaded as a file");
  await field(page, "From").fill("2026-10-01");
  await field(page, "To").fill("2026-11-30");
  await field(page, "Format").selectOption({ label: "CSV (spreadsheet)" });
  await button(page, "Request report").click();
  await page.getByRole("status").filter({ hasText: "Report requested" }).waitFor();
  const report = reportsPart.locator("li.report").first();
  const download = report.getByRole("button", { name: "Download" });
  await download.waitFor({ timeout: 60_000 });
  await inbox.getByText("Your report is ready").waitFor({ timeout: 30_000 });
  const [file] = await Promise.all([page.waitForEvent("download"), download.click()]);
  assert.equal(file.suggestedFilename(), "cashflow-2026-10-01-to-2026-11-30.csv");
  const saved = join(downloads, file.suggestedFilename());
  await file.saveAs(saved);
  const csv = readFileSync(saved, "utf8");
  assert.match(csv, /^date,account,direction,amount,currency,category,description,counterparty,movement_id\r?\n/);
  assert.match(csv, /Weekly shop/);
  assert.match(csv, /Coffee 9/);
  assert.match(csv, /32\.45/, "the corrected receipt");
  assert.doesNotMatch(csv, /Big shop/, "December is outside the period");

  step("the same period as a PDF");
  await field(page, "Format").selectOption({ label: "PDF" });
  await button(page, "Request report").click();
  const pdfDownload = reportsPart.locator("li.report", { hasText: "PDF," }).getByRole("button", { name: "Download" });
  await pdfDownload.waitFor({ timeout: 60_000 });
  const [pdf] = await Promise.all([page.waitForEvent("download"), pdfDownload.click()]);
  assert.equal(pdf.suggestedFilename(), "cashflow-2026-10-01-to-2026-11-30.pdf");
  const savedPdf = join(downloads, pdf.suggestedFilename());
  await pdf.saveAs(savedPdf);
  assert.equal(readFileSync(savedPdf).subarray(0, 5).toString("latin1"), "%PDF-");
  await inbox.getByText("Your report is ready").nth(1).waitFor({ timeout: 30_000 });
  await shotOf(reportsPart, "13-reports");
  await shotOf(inbox, "14-notifications");

  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "15-home-full");
  await page.screenshot({ path: join(shots, "web-app.png"), fullPage: true, clip: { x: 0, y: 0, width: 1200, height: 1400 } });

  step("notifications marked read");
  assert.match(await inbox.locator(".badge").innerText(), /^5 new$/, "80%, reached, receipt, two reports");
  await inbox.getByRole("button", { name: "Mark all read" }).click();
  await inbox.locator(".badge").waitFor({ state: "detached" });

  step("everything at a phone's width, without sideways scrolling");
  await page.setViewportSize({ width: 390, height: 844 });
  const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(phoneOverflow <= 0, `no sideways scrolling at 390px (overflow ${phoneOverflow}px)`);
  await shot(page, "16-home-phone-full");
  await shotOf(section(page, "Movements"), "17-phone-movements");
  await shotOf(chart, "18-phone-chart");
  await shotOf(receipts, "19-phone-receipts");
  await page.setViewportSize({ width: 1200, height: 900 });

  step("keyboard only: Tab through the search form and press Enter");
  await field(page, "Search").focus();
  await page.keyboard.type("weekly");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Search");
  await page.keyboard.press("Enter");
  await page.getByText("1 match for “weekly”").waitFor();
  await button(page, "Clear filters").click();

  step("keyboard only: record income from the Account field to the Record button");
  await field(page, "Account").focus();
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "direction");
  await page.keyboard.press("i"); // the Type list: Income
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "amount");
  await page.keyboard.type("7");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "occurred-on");
  await page.keyboard.type("11282026"); // the date picker, month/day/year in en-US
  // Tab also steps through the picker's own parts (month, day, year) before the next field.
  for (let presses = 0; presses < 4 && (await focused(page)) === "occurred-on"; presses++) await page.keyboard.press("Tab");
  assert.equal(await focused(page), "description");
  await page.keyboard.type("Keyboard gift");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "movement-category");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "Record");
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "Recorded Keyboard gift." }).waitFor();
  const gift = rows.filter({ hasText: "Keyboard gift" });
  assert.match(await gift.innerText(), /Nov 28, 2026/);
  assert.match(await gift.innerText(), /\+€7\.00/);

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
  await section(page, "Notifications").getByText("Your report is ready").first().waitFor();
  assert.equal(await section(page, "Notifications").locator(".badge").count(), 0, "read stays read");

  step("a second person sees none of it");
  const ben = await person("Ben", "de-DE");
  await signUp(ben, "Ben");
  await ben.page.getByText("No accounts yet.").waitFor();
  await ben.page.getByText("No movements yet.").waitFor();
  assert.equal(await ben.page.getByText("Weekly shop").count(), 0);
  assert.equal(await ben.page.getByText("Everyday").count(), 0);
  assert.equal(await field(ben.page, "Category").locator("option").count(), 1, "only 'No category'");
  await ben.page.getByText("No budgets for this month.").waitFor();
  await ben.page.getByText("Nothing yet. Budgets, receipts and reports tell you here.").waitFor();
  assert.equal(await ben.page.locator("li.receipt, li.report, li.budget").count(), 0, "none of Ana's receipts, reports, budgets");
  await ben.page.getByText("Nothing recorded in the last 6 months.").waitFor();
  await shot(ben.page, "07-second-person");

  step("in the person's locale (German here), each currency with its own decimals");
  await field(ben.page, "Account name").fill("Konto");
  await field(ben.page, "Currency").fill("EUR");
  await field(ben.page, "Opening balance").fill("1234.5");
  await button(ben.page, "Open account").click();
  await ben.page.locator(".balances").getByText(/^1\.234,50\s€$/).waitFor();
  await field(ben.page, "Account name").fill("Yen");
  await field(ben.page, "Currency").fill("JPY");
  await field(ben.page, "Opening balance").fill("1500");
  await button(ben.page, "Open account").click();
  await ben.page.locator(".balances").getByText(/^1\.500\s¥$/).waitFor();
  await record(ben.page, { account: "Konto (EUR)", type: "Expense", amount: "12.5", date: "2026-11-27", description: "Brot" });
  const brot = ben.page.locator("table.movements tbody tr", { hasText: "Brot" });
  assert.match(await brot.innerText(), /27\.11\.2026/, "a German date");
  assert.match(await brot.innerText(), /−12,50\s€/, "German money");

  step("paths of the app load the app");
  await ben.page.goto(`${base}/movements`);
  await field(ben.page, "Email").waitFor();

  assert.deepEqual(consoleErrors, [], "no console errors");
  step("done");
  console.log("web flows passed");
} catch (error) {
  // What each page showed when it failed, beside the other screenshots.
  for (const [name, page] of openPages) {
    if (!page.isClosed()) await page.screenshot({ path: join(shots, `failed-${name}.png`), fullPage: true }).catch(() => {});
  }
  if (consoleErrors.length > 0) console.error(`console errors: ${consoleErrors.join("\n")}`);
  throw error;
} finally {
  await browser.close();
}
