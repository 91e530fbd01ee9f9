/* chinwag chat widget: one script tag, no iframe, no framework, no build step.
 *
 *   <script src="https://chat.example.com/widget.js" async></script>
 *
 * Everything it draws lives in a Shadow DOM, so the host page's CSS cannot reach it and its CSS
 * cannot reach the page. It speaks the WebSocket protocol of docs/protocol.md, keeps the visitor
 * and session ids in localStorage so the conversation follows the visitor from page to page,
 * and renders all visitor and dialogue text with textContent, never as HTML. Its styles are a
 * constructed stylesheet and its theme is set through the CSSOM, so it needs no 'unsafe-inline'
 * and no eval under a Content-Security-Policy. Embedding, options and events: docs/widget.md.
 */
(function () {
  "use strict";
  if (window.chinwag && window.chinwag.version) return; // the script tag was included twice

  var VERSION = "1";
  var script = document.currentScript || document.querySelector('script[src*="/widget.js"]');
  if (!script) return;
  var data = script.dataset;
  var SERVER = (data.server || script.src.replace(/\/widget\.js([?#].*)?$/, "")).replace(/\/+$/, "");
  var WS_URL = SERVER.replace(/^http/, "ws") + "/ws";
  var KEY = "chinwag.";
  var MAX_ANSWER = 500;
  var PING_EVERY = 25000;
  var GIVE_UP_AFTER = 6; // failed first connections before the widget stays hidden on this page
  var NARROW = "(max-width: 480px)"; // the window covers the screen: a modal dialog

  // Every text the widget shows or reads out, key -> English (the English catalog's); {name} marks a
  // value put in by t(). The welcome's catalog (protocol 1.2) gives them in the conversation's language.
  var LABELS = {
    chat_title: "Chat",
    open_chat: "Open chat with {name}",
    close_chat_with: "Close chat with {name}",
    unread: "{count} new",
    close_chat: "Close chat",
    dismiss: "Dismiss message",
    conversation: "Conversation",
    typing: "{name} is typing",
    bot_said: "{name} said:",
    you_said: "You said:",
    your_answer: "Your answer",
    send: "Send",
    choices: "Choices",
    pick_time: "Pick a time",
    meeting: "Meeting",
    meeting_with: "Meeting with {name}",
    minutes: "{count} min",
    day: "Day",
    earlier: "Earlier days",
    later: "Later days",
    times_on: "Times on {day}",
    morning: "Morning",
    afternoon: "Afternoon",
    evening: "Evening",
    time_zone: "Time zone",
    no_slots: "No times are free right now. Please check back later.",
    booked: "Meeting booked",
    add_to_calendar: "Add to calendar (.ics)",
    google_calendar: "Google Calendar",
    join: "Join link",
    privacy_policy: "Privacy policy",
    powered_by: "Powered by chinwag",
    reconnecting: "Reconnecting…",
    offline: "Not connected. Trying again…",
    failed: "Something went wrong. Please try again.",
    unavailable: "The chat is briefly unavailable. Please try again in a few seconds.",
    conversation_ended: "This conversation has ended.",
    start_over: "Start over",
    answer_empty: "Please type an answer.",
    answer_too_long: "Please keep your answer under {max} characters.",
    invalid_email: "That doesn't look like an email address. Please check it.",
    invalid_phone: "That doesn't look like a phone number. Please include the country code, like +44 20 7946 0958."
  };
  var catalog = {}; // the welcome's: key -> text in the conversation's language

  /** The text of ``key`` in the conversation's language (the catalog's, else English), its
   *  ``{name}`` marks filled from ``vars``. */
  function t(key, vars) {
    return String(typeof catalog[key] === "string" ? catalog[key] : LABELS[key]).replace(/\{(\w+)\}/g, function (mark, name) {
      return vars && vars[name] != null ? vars[name] : mark;
    });
  }

  var CSS = [
    ":host{all:initial!important;display:block!important}",
    "*{box-sizing:border-box}",
    "[hidden]{display:none!important}",
    ".cw{--r:var(--cw-radius,16px);--b:calc(var(--cw-pad) + var(--cw-offset,0px));font-family:var(--cw-font-family);font-size:15px;line-height:1.4;color:var(--cw-text);-webkit-font-smoothing:antialiased}",
    "button,input,select{font:inherit;color:inherit;margin:0}",
    "button{cursor:pointer}",
    "p{margin:0}",
    ":focus{outline:none}",
    ":focus-visible{outline:3px solid var(--cw-focus);outline-offset:2px}",
    // On the coloured header the ring takes the header's text colour, which contrasts with it.
    ".head :focus-visible{outline-color:var(--cw-header-text);outline-offset:-3px}",
    ".launcher{position:fixed;z-index:2147483000;bottom:var(--b);right:var(--cw-pad);width:58px;height:58px;border:0;border-radius:50%;" +
      "background:var(--cw-launcher);color:var(--cw-launcher-text);box-shadow:0 4px 16px rgba(0,0,0,.25);display:grid;place-items:center;transition:transform .15s}",
    ".launcher:hover{transform:scale(1.06)}",
    ".launcher svg{width:28px;height:28px;fill:currentColor}",
    ".launcher .shut,.open .launcher .chat{display:none}.open .launcher .shut{display:block}",
    ".left .launcher,.left .window,.left .poke{right:auto;left:var(--cw-pad)}",
    ".badge{position:absolute;top:-3px;right:-3px;min-width:21px;height:21px;padding:0 6px;border-radius:11px;background:var(--cw-error);color:#fff;font-size:12px;font-weight:700;line-height:21px;text-align:center}",
    // Sized to its content, up to the screen's height: no tall empty area under a short chat.
    ".window{position:fixed;z-index:2147483001;bottom:calc(var(--b) + 72px);right:var(--cw-pad);width:380px;max-width:calc(100vw - 2 * var(--cw-pad));" +
      "max-height:min(680px,calc(100vh - var(--b) - 96px));display:flex;flex-direction:column;overflow:hidden;background:var(--cw-background);" +
      "border-radius:var(--r);box-shadow:0 12px 48px rgba(0,0,0,.28);animation:cw-in .2s ease-out}",
    "@keyframes cw-in{from{opacity:0;transform:translateY(12px)}}",
    ".head{flex:none;display:flex;align-items:center;gap:12px;padding:14px 10px 14px 16px;background:var(--cw-header);color:var(--cw-header-text)}",
    ".avatar,.face{flex:none;width:40px;height:40px;border-radius:50%;object-fit:cover;background:var(--cw-header-text);color:var(--cw-header);display:grid;place-items:center;font-weight:700}",
    ".agents{flex:none;display:flex}",
    ".agents img{width:36px;height:36px;border-radius:50%;object-fit:cover;border:2px solid var(--cw-header);margin-left:-12px}.agents img:first-child{margin-left:0}",
    ".title{flex:1;min-width:0}",
    ".label{display:block;font-weight:700;font-size:16px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}",
    ".sub,.status{display:block;font-size:13px}.status:empty{display:none}",
    ".close{flex:none;width:40px;height:40px;border:0;border-radius:10px;background:transparent;color:inherit;display:grid;place-items:center}",
    ".close:hover{background:rgba(255,255,255,.15)}",
    ".close svg{width:20px;height:20px;fill:currentColor}",
    ".log{flex:1 1 auto;min-height:96px;overflow-y:auto;padding:16px 14px;display:flex;flex-direction:column;gap:12px;overscroll-behavior:contain}",
    ".log:focus-visible{outline-width:2px;outline-offset:-2px}",
    // A group: the speaker's face beside the first message, their messages, then name and time.
    ".group{display:flex;gap:8px;align-items:flex-start;animation:cw-in .2s ease-out}",
    ".group .face{width:28px;height:28px;font-size:13px;background:var(--cw-header);color:var(--cw-header-text)}",
    ".stack{display:flex;flex-direction:column;align-items:flex-start;gap:3px;min-width:0;max-width:85%}",
    ".group.visitor{justify-content:flex-end}.visitor .stack{align-items:flex-end}",
    ".bubble{padding:9px 13px;border-radius:var(--r);white-space:pre-wrap;overflow-wrap:anywhere}",
    ".bubble.bot{background:var(--cw-bot-bubble);color:var(--cw-bot-text);border-top-left-radius:4px}",
    ".bubble.visitor{background:var(--cw-visitor-bubble);color:var(--cw-visitor-text);border-top-right-radius:4px}",
    ".meta{font-size:12px;color:var(--cw-muted);padding:1px 4px 0}",
    ".choices{display:flex;flex-wrap:wrap;gap:6px;margin:-4px 0 0 36px}",
    ".choice,.again,.links a{padding:7px 14px;border:1.5px solid var(--cw-button-border);border-radius:calc(var(--r) + 4px);background:var(--cw-button);color:var(--cw-button-text);text-align:left}",
    ".choice:hover:not(:disabled),.time:hover:not(:disabled),.again:hover,.day[aria-pressed=true]{background:var(--cw-primary);border-color:var(--cw-primary);color:var(--cw-primary-text)}",
    ":disabled{opacity:.55;cursor:default}",
    ".typing{display:flex;gap:4px;padding:13px 14px}",
    ".typing i{width:7px;height:7px;border-radius:50%;background:var(--cw-bot-text);opacity:.4;animation:cw-dot 1s infinite}",
    ".typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}",
    "@keyframes cw-dot{50%{opacity:1;transform:translateY(-3px)}}",
    // The meeting picker: who and how long, a week of days, the chosen day's times, the zone.
    ".slots{display:grid;gap:10px;padding:12px;border:1px solid var(--cw-border);border-radius:var(--r)}",
    ".who{display:flex;align-items:center;gap:10px;font-weight:600}.who small{display:block;font-weight:400;color:var(--cw-muted)}",
    ".who .agents img{width:30px;height:30px;border-color:var(--cw-background)}.who .agents:empty{display:none}",
    ".month{display:flex;align-items:center;justify-content:space-between;font-weight:600}",
    ".nav{width:32px;height:32px;border:0;border-radius:8px;background:transparent;font-size:20px;line-height:1}",
    ".days{display:grid;grid-template-columns:repeat(7,1fr);gap:2px}",
    ".day{display:grid;justify-items:center;gap:1px;padding:5px 0 6px;border:0;border-radius:10px;background:transparent;font-size:12px}",
    ".day b{font-size:16px}.day::after{content:'';width:5px;height:5px;border-radius:50%;background:var(--cw-button-border)}",
    ".day:disabled::after{visibility:hidden}.day[aria-pressed=true]::after{background:currentColor}",
    ".times{display:grid;gap:8px;max-height:190px;overflow-y:auto;padding:2px 4px 2px 2px}",
    ".part{font-size:12px;font-weight:700;color:var(--cw-muted)}",
    ".grid{display:grid;grid-template-columns:repeat(3,1fr);gap:6px;margin-top:4px}",
    ".time{padding:8px 2px;border:1.5px solid var(--cw-button-border);border-radius:10px;background:var(--cw-button);color:var(--cw-button-text);font-weight:600}",
    ".tz{display:flex;align-items:center;gap:8px;font-size:13px;color:var(--cw-muted)}",
    ".tz select{flex:1;min-width:0;padding:4px 6px;border:1px solid var(--cw-input-border);border-radius:8px;background:var(--cw-input-background);color:var(--cw-input-text)}",
    // The confirmation card of a booked meeting.
    ".meeting{display:grid;gap:8px;width:100%;padding:14px;border:1px solid var(--cw-border);border-radius:var(--r);background:var(--cw-background);color:var(--cw-text)}",
    ".meeting .who .face{width:40px;height:40px}",
    ".when{font-weight:600}",
    ".links{display:flex;flex-wrap:wrap;gap:6px}.links a{padding:5px 12px;font-size:13px;font-weight:600;text-decoration:none}",
    ".end{display:grid;justify-items:center;gap:10px;font-size:13px;color:var(--cw-muted)}",
    ".note{align-self:center;font-size:12px;color:var(--cw-muted)}",
    ".composer{flex:none;display:flex;gap:8px;padding:10px 12px;border-top:1px solid var(--cw-border)}",
    ".composer input{flex:1;min-width:0;padding:9px 14px;border:1px solid var(--cw-input-border);border-radius:20px;background:var(--cw-input-background);color:var(--cw-input-text)}",
    ".composer input[aria-invalid=true]{border-color:var(--cw-error)}",
    ".send{flex:none;padding:0 16px;border:0;border-radius:20px;background:var(--cw-primary);color:var(--cw-primary-text);font-weight:600}",
    ".error{flex:none;padding:0 16px 8px;color:var(--cw-error);font-size:13px}",
    ".foot{flex:none;padding:6px 12px 8px;text-align:center;font-size:12px;color:var(--cw-muted)}",
    ".foot a{color:inherit}.foot>*+*::before{content:' · '}",
    ".poke{position:fixed;z-index:2147483000;bottom:calc(var(--b) + 72px);right:var(--cw-pad);max-width:min(280px,calc(100vw - 2 * var(--cw-pad)));" +
      "display:flex;align-items:flex-start;background:var(--cw-background);color:var(--cw-text);border-radius:14px;box-shadow:0 6px 24px rgba(0,0,0,.22);animation:cw-in .25s ease-out}",
    ".poke-text{flex:1;min-width:0;padding:12px 4px 12px 14px;border:0;background:transparent;text-align:left}",
    ".poke-close{flex:none;width:32px;height:32px;margin:4px;border:0;border-radius:8px;background:transparent;color:var(--cw-muted);font-size:18px;line-height:1}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    // Phones: the window covers the screen (clear of the notch and the home bar), and the poke is
    // one line beside the launcher, so it covers no more of the page than the launcher's own row.
    "@media (max-width:480px){.cw .window{top:0;right:0;bottom:0;left:0;width:auto;max-width:none;max-height:none;border-radius:0;padding-bottom:env(safe-area-inset-bottom)}" +
      ".head{padding-top:max(14px,env(safe-area-inset-top))}.open .launcher{display:none}" +
      ".cw .poke{bottom:calc(var(--b) + 7px);right:calc(var(--cw-pad) + 68px);max-width:calc(100vw - 2 * var(--cw-pad) - 68px);height:44px;align-items:center}" +
      ".cw.left .poke{right:auto;left:calc(var(--cw-pad) + 68px)}.poke-text{padding:0 2px 0 14px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}}",
    "@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}"
  ].join("\n");

  var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  var ICON_CLOSE = "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z";

  // ---- small helpers ------------------------------------------------------------------------

  /** An element with properties (className, textContent, type…), attributes ("aria-*", "data-*", role…) and children. */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    for (var key in props || {}) {
      if (props[key] == null) continue;
      if (/^(aria-|data-|role$|for$|list$)/.test(key)) node.setAttribute(key, props[key]);
      else node[key] = props[key];
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function icon(path, className) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    if (className) svg.setAttribute("class", className);
    svg.setAttribute("aria-hidden", "true");
    var shape = document.createElementNS(ns, "path");
    shape.setAttribute("d", path);
    svg.appendChild(shape);
    return svg;
  }

  // Storage can throw (blocked cookies, private modes): the widget then just forgets between pages.
  function load(store, name) { try { return window[store].getItem(KEY + name); } catch (e) { return null; } }
  function save(store, name, value) {
    try { if (value == null) window[store].removeItem(KEY + name); else window[store].setItem(KEY + name, value); } catch (e) { /* not kept */ }
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  /** The same rules the server applies (docs/protocol.md); the server still has the last word. */
  function inputProblem(kind, value) {
    var text = value.trim();
    if (!text) return t("answer_empty");
    if (text.length > MAX_ANSWER) return t("answer_too_long", { max: MAX_ANSWER });
    if (kind === "email" && !/^[^\s@]+@[^\s@]+\.[^\s@.]{2,}$/.test(text)) return t("invalid_email");
    if (kind === "phone") {
      var digits = text.replace(/\D/g, "").length;
      if (!/^[0-9 +\-().]+$/.test(text) || digits < 7 || digits > 15) return t("invalid_phone");
    }
    return null;
  }

  /** ``zone`` when the browser knows it as an IANA time zone, else null. */
  function knownZone(zone) {
    try { return zone && new Intl.DateTimeFormat("en", { timeZone: zone }) && zone; } catch (e) { return null; }
  }

  /** A date formatter in the conversation's language (or ``locale``) for ``zone`` (the browser's own when none). */
  function dates(zone, options, locale) {
    return new Intl.DateTimeFormat(locale || dateLocale(), Object.assign(zone ? { timeZone: zone } : {}, options));
  }

  /** Dates in the conversation's language; in the browser's own when it is the same language
   *  (en-GB keeps its day-month order in an English conversation). */
  function dateLocale() {
    var browser = navigator.language || "";
    if (!state.language || browser.split("-")[0].toLowerCase() === state.language.split("-")[0]) return browser || undefined;
    return state.language;
  }

  /** A time as a group of messages shows it: "10:42", or "Tue 10:42" on another day. */
  function clock(when) {
    var today = when.toDateString() === new Date().toDateString();
    return dates(null, today ? { hour: "numeric", minute: "2-digit" } : { weekday: "short", hour: "numeric", minute: "2-digit" }).format(when);
  }

  // ---- events for the host page -------------------------------------------------------------

  var listeners = {};

  function emit(name, detail) {
    (listeners[name] || []).slice().forEach(function (fn) {
      try { fn(detail); } catch (e) { setTimeout(function () { throw e; }); } // a page bug must not stop the chat
    });
    window.dispatchEvent(new CustomEvent("chinwag:" + name, { detail: detail }));
  }

  function eventDetail(name, extra) {
    return { event: name, dialogue: state.dialogue, session: state.session, data: extra || {} };
  }

  // ---- state --------------------------------------------------------------------------------

  var state = {
    visitor: load("localStorage", "visitor"),
    session: load("localStorage", "session"),
    dialogue: null,
    options: {},
    awaiting: null,      // id of the open question
    questions: {},       // id -> question frame, to draw its input
    pending: false,      // an answer is on its way
    open: false,
    unread: 0,
    welcomed: false,
    minor: 0,            // the protocol minor version the server speaks to us (1: triggers, opened/closed)
    language: null,      // the conversation's language (1.2), for lang and dates
    fresh: false,        // a new session: its first question may be shown as the poke
    starting: false,     // a start frame was sent: its welcome opens the window
    books: false,        // the dialogue books meetings: its agents show in the header
    generation: 0        // bumped by each welcome; frames queued before it are dropped
  };
  var ui = null;
  var socket = null;
  var failures = 0;
  var greeted = false;     // this connection's hello was answered with a welcome
  var startFrame = null;   // a chinwag.start waiting for the connection's welcome
  var pingTimer = null;
  var queue = Promise.resolve();
  var audio = null;

  // ---- the connection -----------------------------------------------------------------------

  function connect() {
    if (socket) return;
    try { socket = new WebSocket(WS_URL); } catch (e) { return retry(); }
    greeted = false;
    socket.onopen = function () {
      send({
        type: "hello", protocol: 1, minor: 2, visitor: state.visitor, session: state.session,
        page: { url: location.href.slice(0, 2048), referrer: document.referrer.slice(0, 2048) || null, title: document.title.slice(0, 300) || null },
        locale: navigator.language || null,
        timezone: load("localStorage", "zone") || visitorZone(),
        attributes: pageAttributes(),
        tracking: trackingCookies()
      });
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { send({ type: "ping" }); }, PING_EVERY);
    };
    socket.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") receive(frame);
    };
    socket.onclose = function (event) {
      socket = null;
      clearInterval(pingTimer);
      // 1012 "service restart": this server process is shutting down and another one takes the
      // visitor now; a short random wait keeps every visitor from arriving in the same instant.
      if (event && event.code === 1012 && failures < 3) {
        failures += 1;
        return setTimeout(connect, Math.random() * 500);
      }
      retry();
    };
  }

  function retry() {
    failures += 1;
    if (!state.welcomed) {
      if (failures === 1) console.warn("chinwag: could not connect to " + WS_URL + " (is this site in allowed_origins?)");
      if (failures >= GIVE_UP_AFTER) return;
    }
    setStatus(t("reconnecting"));
    // Exponential backoff with jitter, so a restarted server is not hit by every visitor at once.
    var wait = Math.min(30000, 500 * Math.pow(2, failures - 1)) * (0.5 + Math.random() / 2);
    setTimeout(connect, wait);
  }

  function send(frame) {
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  // CRM tracking cookies the page carries (Marketo's Munchkin, HubSpot's), so a CRM connector can
  // recognise a returning visitor before they type anything.
  function trackingCookies() {
    var found = {};
    document.cookie.split(";").forEach(function (pair) {
      var at = pair.indexOf("="), name = pair.slice(0, at).trim();
      if ((name === "_mkto_trk" || name === "hubspotutk") && at > 0) {
        var value = pair.slice(at + 1).trim();
        try { value = decodeURIComponent(value); } catch (e) { /* keep it as it is */ }
        if (value && value.length <= 512) found[name] = value;
      }
    });
    return found;
  }

  // What the page says about the visit (data-attributes='{"visit.plan": "team"}'), for targeting.
  function pageAttributes() {
    var given;
    try { given = JSON.parse(data.attributes || "{}"); } catch (e) { console.warn("chinwag: data-attributes is not JSON"); return {}; }
    return visitAttributes(given);
  }

  /** The visit.* names of ``given`` with a string, number or boolean value; the rest is left out. */
  function visitAttributes(given) {
    var found = {};
    for (var name in given || {}) {
      var kind = typeof given[name];
      if (/^visit\.[A-Za-z_]\w{0,63}$/.test(name) && (kind === "string" || kind === "number" || kind === "boolean")) found[name] = given[name];
      else console.warn("chinwag: attribute " + name + " left out (visit.* names with plain values only)");
    }
    return found;
  }

  function visitorZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; } catch (e) { return null; }
  }

  // ---- frames from the server ---------------------------------------------------------------

  function receive(frame) {
    if (frame.type === "welcome") return welcome(frame);
    if (frame.type === "pong") return;
    if (frame.type === "error") {
      if (frame.code !== "conflict") console.warn("chinwag: " + frame.code + ": " + frame.message);
      // Not greeted yet (the database is briefly down, or too many new chats from this address):
      // say hello again after the wait the server asks for.
      if ((frame.code === "unavailable" || frame.code === "rate_limited") && !greeted && frame.retry_after) {
        return helloLater(frame.retry_after);
      }
      if (state.starting) {
        state.starting = false; // the start was refused (an unknown dialogue, chat switched off…)
        if (!state.session && !watcher) letGo();
        else if (ui) showProblem(t("failed"));
      }
      if (state.pending) {
        state.pending = false;
        setDisabled(false);
        showProblem(t(frame.code === "unavailable" ? "unavailable" : "failed"));
      }
      return;
    }
    // Everything else is drawn in order, each after its typing delay.
    var generation = state.generation;
    queue = queue.then(function () { return generation === state.generation && play(frame); });
  }

  // The server could not take the hello (its database is briefly down): say it again on a new
  // connection after the wait the server asks for.
  function helloLater(seconds) {
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    clearInterval(pingTimer);
    var wait = Math.min(60, Math.max(1, Number(seconds) || 5)) * 1000;
    setTimeout(connect, wait * (0.75 + Math.random() / 2));  // jitter: not every visitor at once
  }

  function welcome(frame) {
    greeted = true;
    state.generation += 1;
    queue = Promise.resolve();
    state.visitor = frame.visitor || state.visitor;
    save("localStorage", "visitor", state.visitor);
    state.session = frame.session || null;
    save("localStorage", "session", state.session);
    failures = 0;
    state.minor = frame.minor || 0;
    if (frame.catalog && typeof frame.catalog === "object") catalog = frame.catalog;
    state.language = typeof frame.language === "string" ? frame.language : null;
    stopWatching();
    var answersStart = state.starting;
    state.starting = false;
    if (startFrame && (frame.status === "none" || !frame.session)) {
      // The page asked for a dialogue: that one, not the page's pending one (or none).
      if (ui) ui.root.hidden = true;
      return sendStart();
    }
    if (frame.status === "pending" && frame.dialogue) {
      // A dialogue waits for its behaviour trigger: stay invisible, keep the connection, watch.
      if (ui) ui.root.hidden = true;
      return watch(frame.dialogue.id, frame.trigger || {});
    }
    if (frame.status === "none" || !frame.session) {
      // No dialogue for this visit: stay invisible and let the connection go.
      if (ui) ui.root.hidden = true;
      return letGo();
    }
    state.welcomed = true;
    state.dialogue = frame.dialogue || null;
    state.options = (frame.theme && frame.theme.options) || {};
    state.books = !!frame.books_meetings;
    if (!ui) build((frame.theme && frame.theme.vars) || {});
    relabel();
    ui.root.hidden = false;
    setStatus("");
    drawFaces();
    redraw(frame.transcript || [], frame.awaiting);
    if (frame.status === "completed") ended();
    showLauncher();
    if (startFrame) sendStart();
    else if (answersStart) open();
  }

  /** Nothing to show on this page: let the connection go (``chinwag.start`` opens a new one). */
  function letGo() {
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    clearInterval(pingTimer);
  }

  /** Send the page's ``start``; its welcome opens the window. */
  function sendStart() {
    if (!send(startFrame)) return;
    startFrame = null;
    state.starting = true;
  }

  // ---- behaviour triggers (protocol 1.1) ------------------------------------------------------

  var watcher = null;

  /** Evaluate the server's trigger rules (all must hold) and say ``trigger`` once they do. */
  function watch(dialogueId, trigger) {
    var rules = trigger.rules || {};
    var siteStart = Date.now() - (Number(trigger.site_seconds) || 0) * 1000;
    var exited = false;
    function met() {
      return !(rules.time_on_page > pageSeconds() || rules.time_on_site > (Date.now() - siteStart) / 1000 ||
        rules.scroll > scrolled() || (rules.exit_intent && !exited));
    }
    function check() {
      if (watcher && met()) {
        stopWatching();
        send({ type: "trigger", dialogue: dialogueId });
      }
    }
    function exit(event) {
      // Exit intent, on desktop only: the pointer leaves the page through its top edge.
      if (!event.relatedTarget && event.clientY <= 0 && window.matchMedia && matchMedia("(hover: hover) and (pointer: fine)").matches) {
        exited = true;
        check();
      }
    }
    watcher = { timer: setInterval(check, 250), check: check, exit: exit };
    window.addEventListener("scroll", check, { passive: true });
    document.addEventListener("mouseout", exit);
    check();
  }

  function stopWatching() {
    if (!watcher) return;
    clearInterval(watcher.timer);
    window.removeEventListener("scroll", watcher.check);
    document.removeEventListener("mouseout", watcher.exit);
    watcher = null;
  }

  function pageSeconds() { return (window.performance ? performance.now() : 0) / 1000; }

  /** How far down the page the visitor has seen, in percent (100 for a page with no scrolling). */
  function scrolled() {
    var height = Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);
    return height <= window.innerHeight ? 100 : Math.min(100, (window.scrollY + window.innerHeight) / height * 100);
  }

  /** Draw a session's transcript at once (no delays): a reload, another page or a reconnect. */
  function redraw(transcript, awaiting) {
    ui.log.textContent = "";
    ui.group = ui.end = null;
    ui.composer.hidden = true;
    state.questions = {};
    state.awaiting = null;
    state.pending = false;
    transcript.forEach(function (frame) {
      if (frame.type === "message" || frame.type === "question") said("bot", frame);
      if (frame.type === "question") state.questions[frame.id] = frame;
      if (frame.type === "answered") bubble("visitor", frame.text, frame.at);
    });
    if (awaiting && state.questions[awaiting]) ask(state.questions[awaiting]);
    state.fresh = !transcript.length;
  }

  function play(frame) {
    if (frame.type === "message" || frame.type === "question") {
      var delay = Math.max(0, Math.min(Number(frame.delay) || 0, 30));
      var generation = state.generation;
      return typing(delay).then(function () {
        if (generation !== state.generation) return;
        said("bot", frame);
        arrived(frame);
        if (frame.type === "question") {
          state.questions[frame.id] = frame;
          ask(frame);
        }
      });
    }
    if (frame.type === "answered") {
      if (frame.question === state.awaiting) closeQuestion();
      bubble("visitor", frame.text);
      hidePoke();
    } else if (frame.type === "invalid") {
      state.pending = false;
      if (frame.question === state.awaiting) setDisabled(false);
      showProblem(frame.message);
    } else if (frame.type === "event" && typeof frame.name === "string") {
      if (frame.dialogue) state.dialogue = frame.dialogue;
      if (frame.name === "completed") ended();
      emit(frame.name, eventDetail(frame.name, frame.data));
    }
  }

  function typing(seconds) {
    if (!seconds) return Promise.resolve();
    ui.typing.hidden = false;
    ui.log.appendChild(ui.typing);
    scrollDown();
    return sleep(seconds * 1000).then(function () { ui.typing.hidden = true; });
  }

  /** A live bot message arrived: poke, badge and sound when the window is closed. */
  function arrived(frame) {
    if (state.open) return chime();
    state.unread += 1;
    showBadge();
    chime();
    if (frame.type === "question" && state.fresh) {
      state.fresh = false;
      showPoke(frame.text);
    }
  }

  // ---- drawing ------------------------------------------------------------------------------

  function build(vars) {
    var host = el("chinwag-widget");
    for (var name in vars) {
      if (/^--cw-[a-z0-9-]+$/.test(name) && typeof vars[name] === "string") host.style.setProperty(name, vars[name]);
    }
    var options = state.options;
    host.style.setProperty("--cw-pad", (Number(options.padding) >= 0 ? Number(options.padding) : 20) + "px");
    var offset = Number(data.bottomOffset || options.bottomOffset) || 0;  // data-bottom-offset: clear of a cookie banner
    host.style.setProperty("--cw-offset", Math.max(0, Math.min(offset, 400)) + "px");
    if (/^https?:\/\//.test(options.fontUrl || "")) {
      // Fonts must be declared in the document: @font-face inside a shadow root is ignored.
      document.head.appendChild(el("link", { rel: "stylesheet", href: options.fontUrl, crossOrigin: "anonymous" }));
    }
    var shadow = host.attachShadow({ mode: "open" });
    if (shadow.adoptedStyleSheets && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      shadow.appendChild(el("style", { textContent: CSS })); // older browsers; needs style-src 'unsafe-inline'
    }
    var position = data.position || options.position;

    ui = { host: host, shadow: shadow };
    ui.faces = el("span", { className: "agents", "aria-hidden": "true" });
    ui.label = el("span", { className: "label", id: "cw-label" });
    ui.sub = el("span", { className: "sub", textContent: options.subtitle || "", hidden: !options.subtitle });
    ui.status = el("span", { className: "status", role: "status" });
    ui.close = el("button", { className: "close", type: "button" }, [icon(ICON_CLOSE)]);
    ui.log = el("div", { className: "log", role: "log", "aria-live": "polite", tabIndex: 0 });
    ui.typing = el("div", { className: "group bot" }, [face(), el("div", { className: "bubble bot typing", role: "status" }, [el("i"), el("i"), el("i")])]);
    ui.input = el("input", { id: "cw-input", autocomplete: "off", maxLength: MAX_ANSWER, "aria-describedby": "cw-error" });
    ui.inputLabel = el("label", { className: "sr", for: "cw-input" });
    ui.send = el("button", { className: "send", type: "submit" });
    ui.composer = el("form", { className: "composer", noValidate: true, hidden: true }, [ui.inputLabel, ui.input, ui.send]);
    ui.error = el("p", { className: "error", id: "cw-error", role: "alert", hidden: true });
    var privacy = ui.privacy = webUrl(options.privacyUrl) && el("a", { href: options.privacyUrl, target: "_blank", rel: "noopener noreferrer" });
    var brand = ui.brand = options.poweredBy && (webUrl(options.poweredByUrl)
      ? el("a", { href: options.poweredByUrl, target: "_blank", rel: "noopener" }) : el("span"));
    ui.window = el("section", { className: "window", id: "cw-window", role: "dialog", "aria-labelledby": "cw-label", hidden: true }, [
      el("div", { className: "head" }, [ui.faces, el("div", { className: "title" }, [ui.label, ui.sub, ui.status]), ui.close]),
      ui.log, ui.error, ui.composer, (privacy || brand) && el("div", { className: "foot" }, [privacy, brand])
    ]);
    ui.badge = el("span", { className: "badge", "aria-hidden": "true", hidden: true });
    ui.launcher = el("button", { className: "launcher", type: "button", hidden: true, "aria-expanded": "false", "aria-controls": "cw-window" },
      [icon(ICON_CHAT, "chat"), icon(ICON_CLOSE, "shut"), ui.badge]);
    ui.pokeText = el("button", { className: "poke-text", type: "button" });
    ui.poke = el("div", { className: "poke", role: "status", hidden: true },
      [ui.pokeText, el("button", { className: "poke-close", type: "button", textContent: "×" })]);
    ui.root = el("div", { className: "cw" + (position === "left" ? " left" : "") }, [ui.poke, ui.window, ui.launcher]);
    shadow.appendChild(ui.root);

    ui.launcher.addEventListener("click", function () { if (state.open) close(); else open(); });
    ui.close.addEventListener("click", close);
    ui.pokeText.addEventListener("click", function () { open(); });
    ui.poke.lastChild.addEventListener("click", function () { save("sessionStorage", "poked", "1"); hidePoke(); });
    ui.window.addEventListener("keydown", function (event) {
      if (event.key === "Escape") close();
      if (event.key === "Tab" && ui.window.hasAttribute("aria-modal")) holdFocus(event);
    });
    ui.composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var question = state.questions[state.awaiting];
      if (question) submitText(question, ui.input.value);
    });
    ui.input.addEventListener("input", function () { hideProblem(); });
    if (window.matchMedia) matchMedia(NARROW).addEventListener("change", setModal);
    (document.body || document.documentElement).appendChild(host);
  }

  /** The drawn widget's own texts and its lang, in the conversation's language (a later welcome
   *  may bring another: a dialogue the page started). */
  function relabel() {
    if (state.language) ui.root.setAttribute("lang", state.language);
    else ui.root.removeAttribute("lang");
    ui.label.textContent = botName();
    ui.close.setAttribute("aria-label", t("close_chat"));
    ui.log.setAttribute("aria-label", t("conversation"));
    ui.typing.lastChild.setAttribute("aria-label", t("typing", { name: botName() }));
    ui.send.textContent = t("send");
    ui.poke.lastChild.setAttribute("aria-label", t("dismiss"));
    if (ui.privacy) ui.privacy.textContent = t("privacy_policy");
    if (ui.brand) ui.brand.textContent = poweredBy();
    updateLauncherLabel();
  }

  function botName() { return state.options.botLabel || t("chat_title"); }
  function poweredBy() { return typeof state.options.poweredBy === "string" ? state.options.poweredBy : t("powered_by"); }
  function webUrl(url) { return /^https?:\/\//.test(url || ""); }

  /** The agents whose photos the theme has (at most three), or none. */
  function agents() {
    return (state.options.agents || []).filter(function (agent) { return agent && agent.name && agent.photo; }).slice(0, 3);
  }

  /** A round picture: the named agent's photo, the bot's avatar, or the initial of the name. */
  function face(name, className) {
    var agent = agents().filter(function (a) { return a.name === name; })[0];
    var src = agent ? agent.photo : !name && state.options.avatarUrl;
    var label = name || botName();
    return src
      ? el("img", { className: className || "face", src: new URL(src, SERVER + "/").href, alt: "" })
      : el("span", { className: className || "face", "aria-hidden": "true", textContent: label.charAt(0).toUpperCase() });
  }

  /** The header's picture: the agents' photos when the dialogue books meetings, else the bot's avatar. */
  function drawFaces() {
    var team = state.books ? agents() : [];
    ui.faces.textContent = "";
    (team.length ? team : [null]).forEach(function (agent) { ui.faces.appendChild(face(agent && agent.name, "avatar")); });
    ui.faces.className = team.length ? "agents" : "";
  }

  function showLauncher() {
    if (!ui.launcher.hidden) return;
    ui.launcher.hidden = false;
    updateLauncherLabel();
    if (window.performance && performance.mark) performance.mark("chinwag:launcher-visible");
    if (load("sessionStorage", "open") === "1") open(true);
    emit("ready", eventDetail("ready"));
  }

  /** Where the next entry of ``who`` goes: the last group when it is theirs and nothing came between. */
  function groupOf(who, at) {
    var group = ui.group;
    var last = ui.log.lastElementChild === ui.typing ? ui.typing.previousElementSibling : ui.log.lastElementChild;
    if (!group || group.who !== who || group.node !== last) {
      var when = at ? new Date(at) : new Date();
      var meta = el("p", { className: "meta", "aria-hidden": "true",
        textContent: (who === "bot" ? botName() + " · " : "") + (isNaN(when) ? "" : clock(when)) });
      var stack = el("div", { className: "stack" }, [meta]);
      group = ui.group = { who: who, meta: meta, stack: stack,
        node: el("div", { className: "group " + who }, [who === "bot" && face(), stack]) };
      ui.log.insertBefore(group.node, ui.typing.parentNode === ui.log ? ui.typing : null);
    }
    return group;
  }

  function bubble(who, text, at) {
    var node = el("div", { className: "bubble " + who }, [
      el("span", { className: "sr", textContent: (who === "bot" ? t("bot_said", { name: botName() }) : t("you_said")) + " " }),
      String(text == null ? "" : text)
    ]);
    var group = groupOf(who, at);
    group.stack.insertBefore(node, group.meta);
    scrollDown();
    return node;
  }

  /** A bot message, with what the server attached to it (a booked meeting's card). */
  function said(who, frame) {
    bubble(who, frame.text, frame.at);
    var details = frame.attachment;
    if (details && details.kind === "meeting") {
      var card = meetingCard(details);
      if (card) ui.group.stack.insertBefore(card, ui.group.meta);
    }
  }

  /** The confirmation of a booked meeting: when, with whom, and links to put it in one's calendar. */
  function meetingCard(details) {
    var start = new Date(details.start), end = new Date(details.end);
    if (isNaN(start) || isNaN(end)) return null;
    var zone = knownZone(details.timezone) || knownZone(load("localStorage", "zone")) || null;
    var who = details.agent && typeof details.agent.name === "string" ? details.agent.name : "";
    var title = who ? t("meeting_with", { name: who }) : t("meeting");
    var hours = dates(zone, { hour: "numeric", minute: "2-digit" });
    var stamp = function (when) { return when.toISOString().replace(/[-:]|\.\d+/g, ""); };
    var text = function (value) { return String(value).replace(/[\\;,]/g, "\\$&").replace(/\n/g, "\\n"); };
    var join = webUrl(details.join_url) ? details.join_url : "";
    var calendar = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//chinwag//widget//EN", "BEGIN:VEVENT",
      "UID:" + stamp(start) + "-" + (state.session || "chat") + "@chinwag", "DTSTAMP:" + stamp(new Date()),
      "DTSTART:" + stamp(start), "DTEND:" + stamp(end), "SUMMARY:" + text(title),
      join && "URL:" + text(join), join && "LOCATION:" + text(join), "END:VEVENT", "END:VCALENDAR"].filter(Boolean).join("\r\n");
    var google = "https://calendar.google.com/calendar/render?action=TEMPLATE&text=" + encodeURIComponent(title) +
      "&dates=" + stamp(start) + "/" + stamp(end) + (join ? "&location=" + encodeURIComponent(join) : "");
    var link = function (href, label, extra) {
      return el("a", Object.assign({ href: href, textContent: label, target: "_blank", rel: "noopener noreferrer" }, extra));
    };
    return el("div", { className: "meeting", role: "group", "aria-label": t("booked") }, [
      el("div", { className: "who" }, [face(who), el("div", {}, [t("booked"), el("small", { textContent: title })])]),
      el("p", { className: "when", textContent: dates(zone, { weekday: "long", day: "numeric", month: "long" }).format(start) }),
      el("p", { textContent: hours.format(start) + " – " + hours.format(end) + (zone ? " (" + zone.replace(/_/g, " ") + ")" : "") }),
      el("div", { className: "links" }, [
        link("data:text/calendar;charset=utf-8," + encodeURIComponent(calendar), t("add_to_calendar"), { download: "meeting.ics", target: null }),
        link(google, t("google_calendar")),
        join && link(join, t("join"))
      ])
    ]);
  }

  /** The dialogue has ended: say so, with a way to run it again when the theme allows it. */
  function ended() {
    if (ui.end) ui.end.remove();
    var again = state.options.startOver !== false && state.minor >= 1 && state.dialogue &&
      el("button", { className: "again", type: "button", textContent: t("start_over") });
    if (again) again.addEventListener("click", function () { window.chinwag.start(state.dialogue.id); });
    ui.end = el("div", { className: "end" }, [el("p", { textContent: t("conversation_ended") }), again]);
    ui.log.insertBefore(ui.end, ui.typing.parentNode === ui.log ? ui.typing : null);
    scrollDown();
  }

  function scrollDown() { ui.log.scrollTop = ui.log.scrollHeight; }

  function setStatus(text) {
    if (!ui) return;
    ui.status.textContent = text;
    ui.sub.hidden = !!text || !state.options.subtitle;
  }

  function showProblem(text) {
    ui.error.textContent = text;
    ui.error.hidden = false;
    if (!ui.composer.hidden) ui.input.setAttribute("aria-invalid", "true");
  }

  function hideProblem() {
    ui.error.hidden = true;
    ui.input.removeAttribute("aria-invalid");
  }

  function showBadge() {
    ui.badge.textContent = state.unread > 9 ? "9+" : String(state.unread);
    ui.badge.hidden = !state.unread;
    updateLauncherLabel();
  }

  function updateLauncherLabel() {
    var label = t(state.open ? "close_chat_with" : "open_chat", { name: botName() });
    if (state.unread && !state.open) label += " (" + t("unread", { count: state.unread }) + ")";
    ui.launcher.setAttribute("aria-label", label);
  }

  function showPoke(text) {
    var mobile = window.matchMedia && matchMedia("(max-width: 600px), (pointer: coarse)").matches;
    if (state.options.poke === false || (mobile && state.options.pokeMobile === false)) return;
    if (data.poke === "false" || load("sessionStorage", "poked")) return;
    ui.pokeText.textContent = text;
    ui.poke.hidden = false;
  }

  function hidePoke() { if (ui) ui.poke.hidden = true; }

  // ---- questions and answers ----------------------------------------------------------------

  function ask(question) {
    state.awaiting = question.id;
    state.pending = false;
    hideProblem();
    var input = question.input || {};
    var kind = input.kind;
    var focusTarget;
    if (kind === "slots") {
      focusTarget = slotPicker(question, input);
    } else if (Array.isArray(input.options)) {
      focusTarget = choices(question, input.options.map(function (option) { return { value: option.id, label: option.label }; }));
    } else {
      // text, email, phone, and any kind this widget does not know: a typed answer.
      if (Array.isArray(input.picklist) && input.picklist.length) {
        focusTarget = choices(question, input.picklist.map(function (entry) { return { value: entry, label: entry, typed: true }; }));
      }
      ui.input.value = "";
      ui.input.type = kind === "email" ? "email" : kind === "phone" ? "tel" : "text";
      ui.input.autocomplete = kind === "email" ? "email" : kind === "phone" ? "tel" : "off";
      ui.input.inputMode = kind === "email" ? "email" : kind === "phone" ? "tel" : "text";
      ui.input.placeholder = input.placeholder || "";
      ui.inputLabel.textContent = question.text || t("your_answer");
      ui.composer.hidden = false;
      setDisabled(false);
      focusTarget = ui.input;
    }
    ui.pendingFocus = focusTarget;
    if (state.open && focusIsOurs()) focusTarget.focus();
  }

  /** Put ``node`` (the open question's controls) at the end of the conversation. */
  function showControls(node) {
    ui.log.insertBefore(node, ui.typing.parentNode === ui.log ? ui.typing : null);
    ui.controls = node;
    scrollDown();
  }

  /** Buttons for a choice; returns the first, to focus. */
  function choices(question, items) {
    var group = el("div", { className: "choices", role: "group", "aria-label": question.text || t("choices") });
    items.forEach(function (item) {
      var button = el("button", { className: "choice", type: "button", textContent: item.label });
      button.addEventListener("click", function () {
        if (item.typed) submitText(question, item.value);
        else answer(question, item.value);
      });
      group.appendChild(button);
    });
    showControls(group);
    return group.firstChild;
  }

  /** Arrow keys, Home and End move the focus among ``container``'s enabled ``selector`` buttons,
   *  which are one Tab stop (the focused one has tabindex 0); ``columns`` for up and down. */
  function rove(container, selector, columns, moved) {
    container.addEventListener("keydown", function (event) {
      var items = Array.prototype.filter.call(container.querySelectorAll(selector), function (b) { return !b.disabled; });
      var at = items.indexOf(ui.shadow.activeElement);
      var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -999, End: 999 }[event.key];
      if (at < 0 || !step) return;
      event.preventDefault();
      var target = items[Math.max(0, Math.min(items.length - 1, at + step))];
      items.forEach(function (b) { b.tabIndex = b === target ? 0 : -1; });
      target.focus();
      if (moved) moved(target);
    });
  }

  /** The meeting picker: who and how long, a week of days (those with free times marked), the
   *  chosen day's times by morning, afternoon and evening, and the time zone, which the visitor
   *  may change. Returns the control to focus: the chosen day. */
  function slotPicker(question, input) {
    var zone = knownZone(input.timezone) || knownZone(visitorZone()) || "UTC";
    var slots = (input.slots || []).map(function (slot) { return { id: slot.id, start: new Date(slot.start) }; })
      .filter(function (slot) { return !isNaN(slot.start); }).sort(function (a, b) { return a.start - b.start; });
    var box = el("div", { className: "slots", role: "group", "aria-label": question.text || t("pick_time") });
    showControls(box);
    if (!slots.length) {
      box.appendChild(el("p", { className: "note", textContent: t("no_slots") }));
      return ui.close;
    }
    var who = input.agent && typeof input.agent.name === "string" ? input.agent.name : "";
    var minutes = Number(input.duration) > 0 ? t("minutes", { count: Number(input.duration) }) : "";
    var month = el("span", { "aria-live": "polite" });
    var earlier = el("button", { className: "nav", type: "button", "aria-label": t("earlier"), textContent: "‹" });
    var later = el("button", { className: "nav", type: "button", "aria-label": t("later"), textContent: "›" });
    var days = el("div", { className: "days", role: "group", "aria-label": t("day") });
    var times = el("div", { className: "times", role: "group" });
    var select = el("select", {});
    var listed = {};
    (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : []).concat(zone).forEach(function (name) {
      if (!listed[name]) select.appendChild(el("option", { value: name, textContent: name.replace(/_/g, " ") }));
      listed[name] = 1;
    });
    select.value = zone;
    var team = who ? face(who) : el("span", { className: "agents", "aria-hidden": "true" },
      agents().map(function (agent) { return face(agent.name, "avatar"); }));  // the queue decides: the team
    [el("div", { className: "who" }, [team, el("div", {}, [who ? t("meeting_with", { name: who }) : t("meeting"), minutes && el("small", { textContent: minutes })])]),
      el("div", { className: "month" }, [earlier, month, later]), days, times,
      el("label", { className: "tz" }, [t("time_zone"), select])].forEach(function (part) { box.appendChild(part); });

    // Days are "YYYY-MM-DD" in the zone shown; week pages start at the first day with a time.
    var byDay, first, week, chosen, dayFormat;
    var noon = function (key) { return Date.parse(key + "T12:00:00Z"); };
    var index = function (key) { return Math.round((noon(key) - first) / 864e5); };
    function dayOf(when) {
      var part = {};
      dayFormat.formatToParts(when).forEach(function (p) { part[p.type] = p.value; });
      return part.year + "-" + part.month + "-" + part.day;
    }
    function sort() {
      dayFormat = dates(zone, { year: "numeric", month: "2-digit", day: "2-digit" }, "en-US");
      byDay = {};
      slots.forEach(function (slot) { var key = dayOf(slot.start); (byDay[key] = byDay[key] || []).push(slot); });
      first = noon(dayOf(slots[0].start));
    }
    function drawWeek() {
      var keys = Object.keys(byDay).sort();
      days.textContent = "";
      month.textContent = dates("UTC", { month: "long", year: "numeric" }).format(first + week * 7 * 864e5);
      earlier.disabled = week === 0;
      later.disabled = week * 7 + 7 > index(keys[keys.length - 1]);
      for (var i = 0; i < 7; i++) {
        var date = new Date(first + (week * 7 + i) * 864e5);
        var button = el("button", { className: "day", type: "button", disabled: !byDay[date.toISOString().slice(0, 10)], tabIndex: -1,
          "aria-pressed": "false", "aria-label": dates("UTC", { weekday: "long", day: "numeric", month: "long" }).format(date) },
          [dates("UTC", { weekday: "short" }).format(date), el("b", { textContent: date.getUTCDate() })]);
        button.day = date.toISOString().slice(0, 10);
        button.addEventListener("click", function () { choose(this.day); });
        days.appendChild(button);
      }
    }
    function choose(key) {
      chosen = key;
      var label = "";
      Array.prototype.forEach.call(days.children, function (button) {
        var on = button.day === key;
        button.setAttribute("aria-pressed", String(on));
        button.tabIndex = on ? 0 : -1;
        if (on) label = button.getAttribute("aria-label");
      });
      times.setAttribute("aria-label", t("times_on", { day: label }));
      times.textContent = "";
      var hour = dates(zone, { hour: "numeric", hourCycle: "h23" }, "en-US");
      var shown = dates(zone, { hour: "numeric", minute: "2-digit" });
      var parts = {};
      (byDay[key] || []).forEach(function (slot) {
        var h = parseInt(hour.format(slot.start), 10);
        var part = h < 12 ? "morning" : h < 17 ? "afternoon" : "evening";
        if (!parts[part]) {
          parts[part] = el("div", { className: "grid", role: "group", "aria-label": t(part) });
          times.appendChild(el("div", {}, [el("p", { className: "part", "aria-hidden": "true", textContent: t(part) }), parts[part]]));
        }
        var button = el("button", { className: "time", type: "button", tabIndex: -1, textContent: shown.format(slot.start) });
        button.addEventListener("click", function () { answer(question, slot.id, zone); });
        parts[part].appendChild(button);
      });
      var firstTime = times.querySelector(".time");
      if (firstTime) firstTime.tabIndex = 0;
      times.scrollTop = 0;
    }
    function show(key) {
      week = Math.floor(index(key) / 7);
      drawWeek();
      choose(key);
    }
    /** The nearest day with times before this week, or after it. */
    function turn(by) {
      var keys = Object.keys(byDay).sort().filter(function (key) { return by > 0 ? index(key) >= week * 7 + 7 : index(key) < week * 7; });
      if (keys.length) show(keys[by > 0 ? 0 : keys.length - 1]);
    }
    earlier.addEventListener("click", function () { turn(-1); });
    later.addEventListener("click", function () { turn(1); });
    select.addEventListener("change", function () {  // the same moment, in the zone chosen (kept for later visits)
      var keep = (byDay[chosen] || [])[0] || slots[0];
      zone = select.value;
      save("localStorage", "zone", zone);
      sort();
      show(dayOf(keep.start));
    });
    rove(days, ".day", 0, function (button) { choose(button.day); });
    rove(times, ".time", 3);
    sort();
    show(dayOf(slots[0].start));
    return days.querySelector("[aria-pressed=true]");
  }

  function submitText(question, value) {
    var kind = (question.input || {}).kind;
    var problem = inputProblem(kind, value);
    if (problem) {
      showProblem(problem);
      if (!ui.composer.hidden) ui.input.focus();
      return;
    }
    answer(question, value.trim());
  }

  /** Send the answer (with the zone the visitor read meeting times in, for a time). */
  function answer(question, value, zone) {
    if (state.pending || question.id !== state.awaiting) return;
    hideProblem();
    if (!send({ type: "answer", question: question.id, value: value, timezone: zone })) return showProblem(t("offline"));
    state.pending = true;
    setDisabled(true);
    unlockAudio();
  }

  function setDisabled(disabled) {
    ui.input.disabled = disabled;
    ui.send.disabled = disabled;
    if (ui.controls) Array.prototype.forEach.call(ui.controls.querySelectorAll("button,select"), function (b) {
      if (disabled) { b.wasDisabled = b.disabled; b.disabled = true; } else b.disabled = !!b.wasDisabled;
    });
    if (!disabled && state.open && ui.pendingFocus && !ui.pendingFocus.disabled) ui.pendingFocus.focus();
  }

  /** Whether moving the focus would not steal it from the page: it is in the widget, or nowhere. */
  function focusIsOurs() {
    var active = document.activeElement;
    return !active || active === document.body || active === ui.host;
  }

  function closeQuestion() {
    // Keep focus inside the window while the controls that held it disappear.
    var hadFocus = state.open && focusIsOurs();
    state.awaiting = null;
    state.pending = false;
    if (ui.controls) ui.controls.remove();
    ui.controls = null;
    ui.composer.hidden = true;
    hideProblem();
    if (hadFocus) ui.log.focus();
  }

  // ---- open and close -----------------------------------------------------------------------

  function open(restoring) {
    if (!ui || state.open) return;
    state.open = true;
    state.unread = 0;
    showBadge();
    hidePoke();
    ui.window.hidden = false;
    ui.root.classList.add("open");
    ui.launcher.setAttribute("aria-expanded", "true");
    updateLauncherLabel();
    setModal();
    save("sessionStorage", "open", "1");
    scrollDown();
    if (restoring !== true) {
      if (state.minor >= 1) send({ type: "opened" });
      var target = ui.pendingFocus && ui.pendingFocus.isConnected && !ui.pendingFocus.disabled ? ui.pendingFocus : ui.close;
      target.focus();
      unlockAudio();
    }
  }

  function close() {
    if (!ui || !state.open) return;
    state.open = false;
    ui.window.hidden = true;
    ui.root.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    updateLauncherLabel();
    save("sessionStorage", "open", null);
    if (state.minor >= 1) send({ type: "closed" });
    ui.launcher.focus();
    emit("closed", eventDetail("closed"));
  }

  /** While the window covers the screen it is a modal dialog: the page behind cannot be reached. */
  function setModal() {
    var covers = state.open && window.matchMedia && matchMedia(NARROW).matches;
    if (covers) ui.window.setAttribute("aria-modal", "true");
    else ui.window.removeAttribute("aria-modal");
  }

  /** Tab and Shift+Tab go round the window's controls instead of out to the page. */
  function holdFocus(event) {
    var stops = Array.prototype.filter.call(ui.window.querySelectorAll("button,input,select,a[href],[tabindex]"), function (node) {
      return node.tabIndex >= 0 && !node.disabled && node.getClientRects().length;
    });
    var at = stops.indexOf(ui.shadow.activeElement);
    var wrap = event.shiftKey ? at <= 0 : at === stops.length - 1;
    if (stops.length && (wrap || at < 0)) {
      event.preventDefault();
      stops[event.shiftKey ? stops.length - 1 : 0].focus();
    }
  }

  // ---- sound --------------------------------------------------------------------------------

  /** Browsers allow sound only after a visitor's gesture: create the audio context on one. */
  function unlockAudio() {
    if (!state.options.sound || audio || !window.AudioContext) return;
    try { audio = new AudioContext(); } catch (e) { audio = null; }
  }

  /** A short two-note chime, synthesised so the widget ships no sound file. */
  function chime() {
    if (!state.options.sound || !audio || audio.state !== "running") return;
    [880, 1320].forEach(function (frequency, index) {
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      var at = audio.currentTime + index * 0.12;
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.08, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.25);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(at);
      oscillator.stop(at + 0.25);
    });
  }

  // ---- the page's API -----------------------------------------------------------------------

  window.chinwag = {
    version: VERSION,
    /** Call ``fn(detail)`` on an event: triggered, engaged, completed, closed, lead_captured, meeting_booked… */
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
    off: function (name, fn) { listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; }); },
    open: function () { open(); },
    close: function () { close(); },
    session: function () { return state.session; },
    /** Start dialogue ``id`` now, whatever its targeting (a button's "Talk to sales"), and open the
     *  window on it; ``options.attributes`` adds visit.* attributes for its cards. */
    start: function (id, options) {
      if (typeof id !== "string" || !id) return console.warn("chinwag: start needs a dialogue id");
      startFrame = { type: "start", dialogue: id.slice(0, 200), attributes: visitAttributes((options || {}).attributes) };
      if (greeted && socket && socket.readyState === 1) sendStart();
      else if (!socket) connect();  // no dialogue on this page let the connection go: say hello again
    }
  };
  window.addEventListener("online", function () { if (!socket) connect(); });
  connect();
})();
