// Drive the served Sinch simulator from Node (v18+), with plain fetch and no SDK:
// send a batch, advance the simulated clock, read the delivery report, inject a fault
// and see the 429, read the journal.
//
//   python -m sinch_async.testing serve --port 8080 --time-scale 0 &
//   node examples/any_language.mjs
//
// Environment: SINCH_SIMULATOR_URL (default http://127.0.0.1:8080), SINCH_SERVICE_PLAN_ID
// (default sim-plan), SINCH_API_TOKEN (default sim-token). Exits non-zero on any surprise.

const base = (process.env.SINCH_SIMULATOR_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const plan = process.env.SINCH_SERVICE_PLAN_ID ?? "sim-plan";
const token = process.env.SINCH_API_TOKEN ?? "sim-token";
const sms = `${base}/xms/v1/${encodeURIComponent(plan)}`;
const control = `${base}/_simulator`;

async function call(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  return { status: response.status, headers: response.headers, data };
}

function check(condition, message, detail) {
  if (!condition) {
    throw new Error(`${message}: ${JSON.stringify(detail)}`);
  }
}

const recipients = ["+15550100001", "+15550100002"];

// 1. Send a batch (the SMS API, exactly as Sinch's).
const sent = await call("POST", `${sms}/batches`, { to: recipients, body: "Hello from Node" });
check(sent.status === 201, "send failed", sent);
const batchId = sent.data.id;
console.log(`sent batch ${batchId}`);

// 2. Advance the simulated clock by a minute (the control API).
const advanced = await call("POST", `${control}/clock/advance`, { seconds: 60 });
check(advanced.status === 200, "advance failed", advanced);
console.log(`clock now ${advanced.data.now}`);

// 3. Read the delivery report: every recipient delivered.
const report = await call("GET", `${sms}/batches/${batchId}/delivery_report?type=full`);
check(report.status === 200, "delivery report failed", report);
const delivered = report.data.statuses.find((s) => s.status === "Delivered");
check(delivered && delivered.count === recipients.length, "not all delivered", report.data);
console.log(`delivered: ${delivered.count}`);

// 4. Inject a fault: the next send answers 429 with Retry-After, the one after succeeds.
const fault = await call("POST", `${control}/faults`, {
  route: "POST /batches",
  status: 429,
  retry_after: "2",
  times: 1,
});
check(fault.status === 201, "adding the fault failed", fault);
const limited = await call("POST", `${sms}/batches`, { to: [recipients[0]], body: "again" });
check(limited.status === 429, "expected 429", limited);
check(limited.headers.get("retry-after") === "2", "expected Retry-After: 2", limited.data);
console.log(`fault: ${limited.status}, Retry-After ${limited.headers.get("retry-after")}`);
const retried = await call("POST", `${sms}/batches`, { to: [recipients[0]], body: "again" });
check(retried.status === 201, "the send after the fault failed", retried);

// 5. Read the journal: the 429, and the messages dispatched for the first batch.
const rejected = await call("GET", `${control}/journal/requests?status=429&method=POST`);
check(rejected.status === 200 && rejected.data.count >= 1, "no 429 in the journal", rejected);
const messages = await call("GET", `${control}/journal/messages?batch_id=${batchId}`);
check(messages.status === 200, "journal messages failed", messages);
const got = messages.data.items.map((m) => m.recipient).sort();
check(JSON.stringify(got) === JSON.stringify(recipients), "unexpected messages", got);
console.log(`journal: ${rejected.data.count} request(s) answered 429, messages to ${got.join(", ")}`);

await call("DELETE", `${control}/faults`);
console.log("OK");
