// Follows one job's event stream with the eventsource package (which
// behaves as browsers' EventSource does) and prints, as one JSON line, what
// it saw: every connection it made, the events, and whether it stopped by
// itself after the job ended. Run by eventsource_test.go:
//   node follow.mjs URL GRACE_MS
// GRACE_MS bounds how long it waits, after the job's terminal event, for
// the client to give up; a client still reconnecting then is reported as
// closed: false.
import { EventSource } from "eventsource";

const [url, graceArg] = process.argv.slice(2);
const grace = Number(graceArg || 15000);
const terminal = new Set(["completed", "failed", "canceled"]);
const out = { connects: [], events: [], endedAt: null, closed: false, closeStatus: null };
const start = Date.now();

const es = new EventSource(url, {
  fetch: async (input, init) => {
    const res = await fetch(input, init);
    const h = new Headers(init && init.headers);
    out.connects.push({ at: Date.now() - start, lastEventID: h.get("last-event-id"), status: res.status });
    return res;
  },
});

function finish() {
  es.close();
  console.log(JSON.stringify(out));
  process.exit(0);
}

function onEvent(type) {
  return (e) => {
    const data = JSON.parse(e.data);
    out.events.push({ id: e.lastEventId, type, status: data.status });
    if (type === "job" && terminal.has(data.status) && out.endedAt === null) {
      out.endedAt = Date.now() - start;
      setTimeout(finish, grace);
    }
  };
}
es.addEventListener("job", onEvent("job"));
es.addEventListener("section", onEvent("section"));
es.addEventListener("error", (e) => {
  if (es.readyState === EventSource.CLOSED) {
    out.closed = true;
    out.closeStatus = e.code ?? null;
    finish();
  }
});
