// Manage Entity Connections: the page of contract §6, the shared objects of §7 and the
// sharing settings of §8, on the REST API of contract §4.
//
// The access token lives in this tab's sessionStorage (and in memory), never in a URL and
// never with the client secret: when it ends (401, or its expiry) the page asks to sign in
// again. The acting entity goes in Zuora-Entity-Ids on every call. Changes arrive on
// GET /v1/entity-connections/changes, read with fetch() because EventSource cannot send the
// Authorization header; after its own commands the page also reads the lists, with
// minSequence, so that their result shows even before the stream delivers it.
//
// The stream carries connections, not shared objects; but a share or an unshare is an event
// of its connection and rewrites the connection's view, so the stream sends that connection
// again. Such a change is the page's cue to read the lists of shared objects again, with
// minSequence of the change, so that the read includes it (see reloadShares).
//
// The sharing settings (which sources' requests the acting entity accepts at once) are read
// when their dialog opens and written when it is saved; they are not on the change stream,
// but what they do is: an auto-accepted request arrives there as a Connected connection.
//
// "View as of…" (contract §8) shows the past: both lists, the shared objects and the History
// as they were at an instant, read with asOf (UTC, RFC 3339). The field takes the user's
// local time, to the second. While the page shows the past it makes no command (every
// button but History is disabled, with the reason) and reads no change stream: the past does
// not change, and the changes of the present would not belong in it. Now goes back to the
// present: everything is read anew and the change stream starts again.
'use strict';

(() => {
  const TOKEN_KEY = 'entityconn.session';
  const ENTITY_KEY = 'entityconn.entity';
  const TAB_KEY = 'entityconn.tab';
  const DIRECTIONS = ['outbound', 'inbound'];
  // The list of shared objects that each direction's rows show (contract §7).
  const SHARED = { outbound: 'sharedBy', inbound: 'sharedWith' };
  // Connections only move forward: Pending → Connected → Disconnected, Pending → another
  // terminal state. A late answer never takes a connection back.
  const RANK = { Pending: 0, Connected: 1, Denied: 2, Cancelled: 2, Expired: 2, Disconnected: 2 };
  const MAX_BACKOFF_MS = 30000;
  const SETTINGS_PATH = '/v1/entity-sharing-settings';
  // The actor of the acceptances that sharing settings make (contract §8).
  const AUTO_ACCEPT_ACTOR = 'system:auto-accept';
  const ENTITY_ID = /^[A-Za-z0-9_-]{1,64}$/;
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  const $ = (sel) => document.querySelector(sel);
  const el = {
    alert: $('#alert'), dismiss: $('#dismiss'), live: $('#live'),
    signIn: $('#sign-in'), clientID: $('#client-id'), clientSecret: $('#client-secret'), signInButton: $('#sign-in-button'),
    session: $('#session'), who: $('#who'), entity: $('#entity'), signOut: $('#sign-out'),
    workspace: $('#workspace'), roleNote: $('#role-note'),
    tabs: { outbound: $('#tab-outbound'), inbound: $('#tab-inbound') },
    panels: { outbound: $('#panel-outbound'), inbound: $('#panel-inbound') },
    history: $('#history'), historyTitle: $('#history-title'), historySummary: $('#history-summary'),
    historyBody: $('#history-table tbody'),
    reasonDialog: $('#reason-dialog'), reasonForm: $('#reason-form'), reasonTitle: $('#reason-title'),
    reason: $('#reason'), reasonConfirm: $('#reason-confirm'),
    shareDialog: $('#share-dialog'), shareForm: $('#share-form'), shareTitle: $('#share-title'), shareHint: $('#share-hint'),
    objectType: $('#object-type'), objectID: $('#object-id'),
    settingsOpen: $('#settings-open'), settingsNote: $('#settings-note'),
    settingsDialog: $('#settings-dialog'), settingsForm: $('#settings-form'), settingsTitle: $('#settings-title'),
    settingsHint: $('#settings-hint'), settingsCurrent: $('#settings-current'), settingsList: $('#settings-list'),
    settingsOther: $('#settings-other'), settingsAdd: $('#settings-add'), settingsSave: $('#settings-save'),
    settingsMode: { all: $('#settings-all'), some: $('#settings-some'), none: $('#settings-none') },
    asOfForm: $('#as-of-form'), asOf: $('#as-of'), asOfNow: $('#as-of-now'), asOfHint: $('#as-of-hint'),
    asOfBanner: $('#as-of-banner'),
  };

  const state = {
    token: '', expiresAt: 0, client: '', user: '',
    entities: [], acting: '', // the entities the user can access (with its role), the one it acts in
    names: new Map(), // entity id → name, for every entity of the tenant
    conns: { outbound: new Map(), inbound: new Map() }, // connection id → connection
    seqs: new Map(), // connection id → stream sequence of the version shown
    loaded: { outbound: false, inbound: false },
    busy: new Set(), // rows with a command in flight
    gen: 0, // bumped on sign-in, sign-out and entity switch: answers of older ones are dropped
    stream: null, retry: 0, retryTimer: 0, expiryTimer: 0, renderTimer: 0,
    historyID: '', reasonAction: null, shareTarget: '', opener: null,
    // Shared objects of the acting entity: by it (outbound rows), with it (inbound rows).
    shares: { sharedBy: [], sharedWith: [] },
    sharesLoaded: false,
    sharesSync: newSharesSync(),
    collapsed: new Set(), // rows ('dir:entity') whose list of shared objects the user closed
    live: false, // the change stream has sent its current views ("live")
    streamSeq: 0, // the highest sequence the change stream has sent
    settingsLoad: 0, // bumped on each opening of the settings dialog: older reads are dropped
    settingsSaving: null, // the promise of a save in flight
    asOf: '', // the instant shown (RFC 3339, UTC), or '' for now
    nextID: 0,
  };

  // newSharesSync is the state of the reads of the shared objects: at most one runs at a
  // time; a cue that comes meanwhile asks for one more after it, at the highest sequence.
  function newSharesSync() {
    return { want: 0, dirty: false, running: null };
  }

  // ---- errors and notices ----

  class APIError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  function showError(text) {
    el.alert.textContent = text;
    el.dismiss.hidden = false;
  }

  function clearError() {
    el.alert.textContent = '';
    el.dismiss.hidden = true;
  }

  // fail shows why an action of generation gen failed, unless the page has moved on since.
  function fail(gen, what, err) {
    if (gen !== state.gen) return;
    showError(what + ': ' + err.message);
  }

  function setLive(text) {
    el.live.textContent = text;
  }

  async function readJSON(res) {
    try {
      return await res.json();
    } catch {
      return null;
    }
  }

  // reasonsOf turns a Zuora error body into words.
  function reasonsOf(data, res) {
    const reasons = data && Array.isArray(data.reasons) ? data.reasons : [];
    const words = reasons.map((r) => r && r.message).filter(Boolean).join('; ');
    return (words || res.statusText || 'the request failed') + ' (HTTP ' + res.status + ')';
  }

  function randomKey() {
    // crypto.randomUUID needs a secure context; getRandomValues does not.
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ---- the API ----

  // api calls the REST API as the signed-in user, acting in entity. A 401 ends the session.
  async function api(method, path, { body, entity = state.acting, gen = state.gen } = {}) {
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + state.token };
    if (entity) headers['Zuora-Entity-Ids'] = entity;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET') headers['Idempotency-Key'] = randomKey();
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      });
    } catch (err) {
      throw new APIError('the service could not be reached (' + err.message + ')', 0);
    }
    const data = await readJSON(res);
    if (!res.ok) {
      const err = new APIError(reasonsOf(data, res), res.status);
      if (res.status === 401 && gen === state.gen && state.token) sessionEnded(err.message);
      throw err;
    }
    return { data: data || {}, res };
  }

  // ---- session ----

  function saveSession() {
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ token: state.token, expiresAt: state.expiresAt, client: state.client, user: state.user }));
  }

  function loadSession() {
    try {
      const s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || 'null');
      if (s && typeof s.token === 'string' && s.token && typeof s.expiresAt === 'number') return s;
    } catch {
      // A damaged entry is no session.
    }
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }

  async function signIn(ev) {
    ev.preventDefault();
    clearError();
    const client = el.clientID.value.trim();
    const secret = el.clientSecret.value;
    if (!client || !secret) {
      showError('Sign-in failed: enter the Client ID and the Client secret.');
      (client ? el.clientSecret : el.clientID).focus();
      return;
    }
    el.signInButton.disabled = true;
    try {
      let res;
      try {
        res = await fetch('/oauth/token', {
          method: 'POST', headers: { Accept: 'application/json' },
          body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client, client_secret: secret }),
          cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
        });
      } catch (err) {
        showError('Sign-in failed: the service could not be reached (' + err.message + ')');
        return;
      }
      const data = await readJSON(res);
      if (!res.ok || !data || !data.access_token) {
        showError('Sign-in failed: ' + reasonsOf(data, res));
        el.clientSecret.value = '';
        el.clientSecret.focus();
        return;
      }
      el.clientSecret.value = ''; // the secret is never kept
      const user = userOf(data.scope);
      if (!user) {
        showError('Sign-in failed: the token does not name its user (no user.<id> in its scope).');
        el.clientSecret.focus();
        return;
      }
      state.token = data.access_token;
      state.expiresAt = Date.now() + (Number(data.expires_in) || 3600) * 1000;
      state.client = client;
      state.user = user;
      saveSession();
      start();
    } finally {
      el.signInButton.disabled = false;
    }
  }

  // userOf returns the user a token's scope names (user.<id>), or ''.
  function userOf(scope) {
    const found = String(scope || '').split(/\s+/).find((sc) => sc.startsWith('user.'));
    return found ? found.slice('user.'.length) : '';
  }

  // signOut forgets the token and everything read with it.
  function signOut() {
    state.gen++;
    stopStream();
    clearTimeout(state.expiryTimer);
    clearTimeout(state.renderTimer);
    closeDialogs();
    state.token = '';
    state.expiresAt = 0;
    state.client = '';
    state.user = '';
    state.entities = [];
    state.names = new Map();
    state.acting = '';
    state.asOf = '';
    el.asOf.value = '';
    resetConnections();
    state.busy.clear();
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ENTITY_KEY);
    el.entity.replaceChildren();
    el.settingsNote.textContent = '';
    el.session.hidden = true;
    el.workspace.hidden = true;
    el.signIn.hidden = false;
    clearError();
    setLive('');
    el.clientID.focus();
  }

  function sessionEnded(why) {
    signOut();
    showError('Your session has ended: ' + why + '. Sign in again.');
  }

  function scheduleExpiry() {
    clearTimeout(state.expiryTimer);
    const ms = Math.min(state.expiresAt - Date.now(), 2 ** 31 - 1);
    state.expiryTimer = setTimeout(() => sessionEnded('the access token expired'), Math.max(ms, 0));
  }

  // start shows the signed-in page: the entities the user can access (the Entity selector)
  // and the names of all the tenant's (for counterparts), then the acting entity's
  // connections.
  async function start() {
    const gen = ++state.gen;
    el.signIn.hidden = true;
    el.session.hidden = false;
    el.workspace.hidden = false;
    el.who.textContent = 'Signed in as ' + state.client;
    scheduleExpiry();
    setLive('Loading your entities…');
    let data, all;
    try {
      [{ data }, { data: all }] = await Promise.all([
        api('GET', '/v1/users/' + encodeURIComponent(state.user) + '/accessible-entities', { entity: '', gen }),
        api('GET', '/v1/entities', { entity: '', gen }),
      ]);
    } catch (err) {
      fail(gen, 'Could not load your entities', err);
      return;
    }
    if (gen !== state.gen) return;
    state.entities = Array.isArray(data.entities) ? data.entities : [];
    state.names = new Map((Array.isArray(all.entities) ? all.entities : []).map((e) => [e.id, e.name || e.id]));
    el.entity.replaceChildren(...state.entities.map((e) => new Option(e.name || e.id, e.id)));
    if (state.entities.length === 0) {
      showError('Your user has access to no entity.');
      setLive('');
      return;
    }
    const remembered = sessionStorage.getItem(ENTITY_KEY);
    switchEntity(state.entities.some((e) => e.id === remembered) ? remembered : state.entities[0].id);
  }

  function entityOf(id) {
    return state.entities.find((e) => e.id === id);
  }

  // nameOf returns the name of entity id: of those the user can access, or else of the
  // tenant's; the id itself for an entity of neither.
  function nameOf(id) {
    const e = entityOf(id);
    return e ? e.name || e.id : state.names.get(id) || id;
  }

  function isAdmin() {
    const e = entityOf(state.acting);
    return Boolean(e && e.role === 'admin');
  }

  // ---- the acting entity's connections ----

  function resetConnections() {
    for (const d of DIRECTIONS) {
      state.conns[d].clear();
      state.loaded[d] = false;
    }
    state.seqs.clear();
    state.shares = { sharedBy: [], sharedWith: [] };
    state.sharesLoaded = false;
    state.sharesSync = newSharesSync();
    state.collapsed.clear();
    state.live = false;
    state.streamSeq = 0;
  }

  function switchEntity(id) {
    const gen = ++state.gen;
    stopStream();
    closeDialogs();
    state.acting = id;
    state.busy.clear();
    el.settingsNote.textContent = '';
    sessionStorage.setItem(ENTITY_KEY, id);
    el.entity.value = id;
    resetConnections();
    render();
    refresh(gen, '');
    reloadShares(gen, 0);
    if (!state.asOf) {
      startStream(gen);
      return;
    }
    // The past does not change: no change stream while the page shows it.
    setLive('Live updates are paused while you view the past; choose Now to resume them.');
  }

  // merge keeps the newest known version of a connection; it reports whether c changed the view.
  function merge(dir, c, seq) {
    if (!c || typeof c.id !== 'string') return false;
    const mine = dir === 'outbound' ? c.sourceEntityId : c.targetEntityId;
    if (mine !== state.acting) return false;
    const map = state.conns[dir];
    const old = map.get(c.id);
    const oldSeq = state.seqs.get(c.id) || 0;
    if (old) {
      if (seq && oldSeq && seq < oldSeq) return false;
      if ((RANK[c.status] ?? 0) < (RANK[old.status] ?? 0)) return false;
    }
    map.set(c.id, c);
    if (seq) state.seqs.set(c.id, Math.max(seq, oldSeq));
    return !old || old.status !== c.status || old.updatedAt !== c.updatedAt;
  }

  // readPages returns the items under key of every page of a list, starting at path, or null
  // when the page has moved on to another generation meanwhile.
  async function readPages(gen, path, key) {
    const items = [];
    for (let pages = 0; path && pages < 1000; pages++) {
      const { data } = await api('GET', path, { gen });
      if (gen !== state.gen) return null;
      if (Array.isArray(data[key])) items.push(...data[key]);
      path = '';
      if (data.nextPage) {
        // Follow the link on this origin only: the token never goes anywhere else.
        const next = new URL(data.nextPage, location.href);
        path = next.pathname + next.search;
      }
    }
    return items;
  }

  // refresh reads both lists (every page); with minSequence, once they include that event.
  async function refresh(gen, minSequence) {
    await Promise.all(DIRECTIONS.map(async (dir) => {
      let path = '/v1/entity-connections?type=' + dir + '&pageSize=300' + asOfQuery('&');
      if (minSequence) path += '&minSequence=' + encodeURIComponent(minSequence);
      let items;
      try {
        items = await readPages(gen, path, 'entityConnections');
      } catch (err) {
        failRead(gen, 'Could not load the ' + (dir === 'outbound' ? 'Share To' : 'Share From') + ' connections', err);
        return;
      }
      if (!items) return;
      for (const c of items) merge(dir, c, 0);
      state.loaded[dir] = true;
    }));
    if (gen === state.gen) render();
  }

  // ---- shared objects ----

  // reloadShares reads the acting entity's shared objects again, both directions, once the
  // list includes the event at minSequence (0: as it is). Reads are coalesced: while one
  // runs, cues only raise the sequence the next one waits for, and one more read follows. The
  // promise settles when no read is left to do, so a caller that awaits it sees its event.
  function reloadShares(gen, minSequence) {
    const sync = state.sharesSync;
    sync.want = Math.max(sync.want, Number(minSequence) || 0);
    sync.dirty = true;
    if (sync.running) return sync.running;
    sync.running = (async () => {
      try {
        while (sync.dirty && gen === state.gen) {
          sync.dirty = false;
          await readShares(gen, sync.want);
        }
      } finally {
        sync.running = null;
      }
    })();
    return sync.running;
  }

  async function readShares(gen, minSequence) {
    const lists = {};
    try {
      await Promise.all(Object.values(SHARED).map(async (d) => {
        let path = '/v1/shared-objects?direction=' + d + '&pageSize=300' + asOfQuery('&');
        if (minSequence) path += '&minSequence=' + encodeURIComponent(minSequence);
        lists[d] = await readPages(gen, path, 'sharedObjects');
      }));
    } catch (err) {
      failRead(gen, 'Could not load the shared objects', err);
      return;
    }
    if (gen !== state.gen || !lists.sharedBy || !lists.sharedWith) return;
    state.shares = lists;
    state.sharesLoaded = true;
    renderSoon();
  }

  // ---- the change stream ----

  function stopStream() {
    clearTimeout(state.retryTimer);
    state.retryTimer = 0;
    if (state.stream) state.stream.abort();
    state.stream = null;
  }

  async function startStream(gen) {
    stopStream();
    const ctrl = new AbortController();
    state.stream = ctrl;
    state.live = false;
    const gone = () => ctrl.signal.aborted || gen !== state.gen;
    setLive('Connecting to live updates…');
    let res;
    try {
      res = await fetch('/v1/entity-connections/changes', {
        headers: { Accept: 'text/event-stream', Authorization: 'Bearer ' + state.token, 'Zuora-Entity-Ids': state.acting },
        signal: ctrl.signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      });
    } catch {
      if (!gone()) retryStream(gen, 'the service could not be reached');
      return;
    }
    if (!res.ok) {
      const data = await readJSON(res);
      if (gone()) return;
      const why = reasonsOf(data, res);
      if (res.status === 401) {
        sessionEnded(why);
      } else if (res.status >= 500) {
        retryStream(gen, why);
      } else {
        showError('Live updates are off: ' + why);
        setLive('Live updates are off.');
      }
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let event = '';
    let data = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || gone()) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          let line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if (data.length || event) onStreamEvent(gen, event || 'message', data.join('\n'));
            event = '';
            data = [];
            continue;
          }
          if (line.startsWith(':')) continue; // a comment: keep-alive
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'event') event = val;
          else if (field === 'data') data.push(val);
        }
      }
    } catch {
      // The connection broke: reconnect below.
    }
    if (gone()) {
      reader.cancel().catch(() => {});
      return;
    }
    retryStream(gen, 'the connection was lost');
  }

  function retryStream(gen, why) {
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** state.retry) * (0.75 + Math.random() / 2);
    state.retry = Math.min(state.retry + 1, 10);
    setLive('Live updates interrupted (' + why + '); reconnecting in ' + Math.ceil(delay / 1000) + ' s…');
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(() => {
      if (gen === state.gen) startStream(gen);
    }, delay);
  }

  function onStreamEvent(gen, event, data) {
    if (gen !== state.gen) return;
    if (event === 'live') {
      state.retry = 0;
      state.live = true;
      for (const d of DIRECTIONS) state.loaded[d] = true;
      setLive('Live: changes made elsewhere appear here as they happen.');
      renderSoon();
      // The views just sent may be ahead of the last read of the shared objects (and, after
      // a reconnection, changes may have been missed): read them as of the newest view.
      reloadShares(gen, state.streamSeq);
      return;
    }
    if (event !== 'connection') return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || !DIRECTIONS.includes(msg.direction) || !msg.connection) return;
    const c = msg.connection;
    if ((msg.direction === 'outbound' ? c.sourceEntityId : c.targetEntityId) !== state.acting) return;
    const seq = Number(msg.sequence) || 0;
    // A newer event of the connection, even one that changes nothing shown (the unshares
    // that follow a disconnection keep its time), may be a share or an unshare.
    const newer = seq > (state.seqs.get(c.id) || 0);
    state.streamSeq = Math.max(state.streamSeq, seq);
    const changed = merge(msg.direction, c, seq);
    if (changed) renderSoon();
    if (!changed && !newer) return;
    if (state.historyID === c.id && el.history.open) loadHistory(gen, c.id);
    // Objects are shared only over Connected connections, and ended with them (the views
    // sent before "live" are covered by the read that "live" starts).
    if (state.live && (c.status === 'Connected' || c.status === 'Disconnected')) reloadShares(gen, seq);
  }

  addEventListener('online', () => {
    if (state.token && state.acting && state.retryTimer && !state.asOf) startStream(state.gen);
  });

  // ---- rendering ----

  function renderSoon() {
    if (state.renderTimer) return;
    state.renderTimer = setTimeout(() => {
      state.renderTimer = 0;
      render();
    }, 0);
  }

  // latest returns, per counterpart, the connection requested last (the live one on a tie).
  function latest(dir) {
    const key = dir === 'outbound' ? 'targetEntityId' : 'sourceEntityId';
    const out = new Map();
    for (const c of state.conns[dir].values()) {
      const cur = out.get(c[key]);
      if (!cur) {
        out.set(c[key], c);
        continue;
      }
      const a = Date.parse(c.requestedAt) || 0;
      const b = Date.parse(cur.requestedAt) || 0;
      if (a > b || (a === b && (RANK[c.status] ?? 0) < 2)) out.set(c[key], c);
    }
    return out;
  }

  function order(ids) {
    const index = new Map(state.entities.map((e, i) => [e.id, i]));
    return ids.sort((a, b) => (index.get(a) ?? Infinity) - (index.get(b) ?? Infinity) || a.localeCompare(b));
  }

  function render() {
    const actingName = nameOf(state.acting);
    for (const span of document.querySelectorAll('.acting-name')) span.textContent = actingName;
    const admin = isAdmin();
    el.roleNote.hidden = admin || !state.acting;
    el.roleNote.textContent = admin ? '' : 'You are a user, not an admin, of ' + actingName + ': you can see its connections but not change them.';
    renderAsOf();

    const out = latest('outbound');
    const outIDs = state.entities.map((e) => e.id).filter((id) => id !== state.acting);
    for (const id of out.keys()) if (!outIDs.includes(id)) outIDs.push(id);
    renderTable('outbound', order(outIDs), out);

    const inb = latest('inbound');
    renderTable('inbound', order([...inb.keys()]), inb);
  }

  function renderTable(dir, ids, conns) {
    const panel = el.panels[dir];
    const tbody = panel.querySelector('tbody');
    const empty = panel.querySelector('.empty');
    const rows = new Map([...tbody.rows].map((r) => [r.dataset.entity, r]));
    const focusedRow = document.activeElement && document.activeElement.closest ? document.activeElement.closest('tr') : null;
    let prev = null;
    for (const id of ids) {
      let row = rows.get(id);
      rows.delete(id);
      if (!row) row = newRow(dir, id);
      const next = prev ? prev.nextSibling : tbody.firstChild;
      if (row !== next) tbody.insertBefore(row, next);
      updateRow(dir, row, id, conns.get(id) || null, row === focusedRow);
      prev = row;
    }
    for (const row of rows.values()) row.remove();
    // Busy until the list is read: rows shown meanwhile are those of no connection yet.
    panel.setAttribute('aria-busy', String(!state.loaded[dir]));
    const loading = !state.loaded[dir] && ids.length === 0;
    empty.hidden = ids.length > 0;
    if (loading) empty.textContent = 'Loading…';
    else if (dir === 'outbound') empty.textContent = 'There is no other entity you have access to.';
    else if (state.asOf) empty.textContent = 'No entity had requested a connection to ' + nameOf(state.acting) + ' as of ' + formatUTC(state.asOf) + '.';
    else empty.textContent = 'No entity has requested a connection to ' + nameOf(state.acting) + '.';
  }

  function newRow(dir, id) {
    const row = document.createElement('tr');
    row.dataset.entity = id;
    const labels = [dir === 'outbound' ? 'Target entity' : 'Source entity', 'ID', 'Status', 'Updated', 'Shared objects', 'Actions'];
    for (const [i, label] of labels.entries()) {
      const cell = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) cell.scope = 'row';
      cell.dataset.label = label;
      row.append(cell);
    }
    row.cells[0].id = dir + '-name-' + id;
    row.cells[1].className = 'mono';
    return row;
  }

  function updateRow(dir, row, id, conn, hadFocus) {
    const [nameCell, idCell, statusCell, updatedCell, sharesCell, actionsCell] = row.cells;
    const known = Boolean(entityOf(id));
    setText(nameCell, nameOf(id));
    nameCell.classList.toggle('muted', !known);
    if (known) nameCell.removeAttribute('title');
    else nameCell.title = 'You have no access to ' + nameOf(id);
    setText(idCell, id);

    const status = conn ? conn.status : 'Not connected';
    if (statusCell.textContent !== status) {
      const badge = document.createElement('span');
      badge.className = 'status status-' + status.toLowerCase().replace(/\s+/g, '-');
      badge.textContent = status;
      statusCell.replaceChildren(badge);
    }
    if (conn) statusCell.title = 'Requested by ' + conn.requestedBy + ' on ' + formatTime(conn.requestedAt);
    else statusCell.removeAttribute('title');
    const updated = conn ? conn.updatedAt : '';
    if (updatedCell.dataset.at !== updated) {
      updatedCell.dataset.at = updated;
      if (updated) {
        const t = document.createElement('time');
        t.dateTime = updated;
        t.textContent = formatTime(updated);
        updatedCell.replaceChildren(t);
      } else {
        updatedCell.textContent = '—';
      }
    }

    const busy = state.busy.has(dir + ':' + id);
    row.setAttribute('aria-busy', String(busy));
    updateShares(dir, sharesCell, id, conn, busy);

    const specs = dir === 'outbound' ? outboundActions(id, conn, known) : inboundActions(id, conn);
    const existing = new Map([...actionsCell.querySelectorAll('button')].map((b) => [b.textContent, b]));
    const buttons = specs.map((s) => {
      let b = existing.get(s.name);
      existing.delete(s.name);
      if (!b) {
        b = document.createElement('button');
        b.type = 'button';
        b.textContent = s.name;
        b.setAttribute('aria-describedby', nameCell.id);
      }
      b.onclick = s.run;
      const disabled = Boolean(s.reason) || (busy && s.name !== 'History');
      b.disabled = disabled;
      if (s.reason) b.title = s.reason;
      else if (disabled) b.title = 'Working…';
      else b.removeAttribute('title');
      return b;
    });
    const lostFocus = hadFocus && [...existing.values()].includes(document.activeElement);
    // Buttons are moved only when out of place: a button taken out of the page, even to be
    // put back at once, loses the focus.
    let prev = null;
    for (const b of buttons) {
      const next = prev ? prev.nextSibling : actionsCell.firstChild;
      if (b !== next) actionsCell.insertBefore(b, next);
      prev = b;
    }
    for (const b of existing.values()) b.remove();
    if (lostFocus) {
      const next = buttons.find((b) => !b.disabled);
      if (next) next.focus();
    }
  }

  // sharesOf returns the objects shared over conn, by type and id: none unless conn is
  // Connected, whatever the last read of the list says, as a share ends with its connection.
  function sharesOf(dir, conn) {
    if (!conn || conn.status !== 'Connected') return [];
    const byKey = new Map();
    for (const s of state.shares[SHARED[dir]]) if (s && s.connectionId === conn.id) byKey.set(objectKey(s), s);
    return [...byKey.values()].sort((a, b) => a.objectType.localeCompare(b.objectType) ||
      a.objectId.localeCompare(b.objectId, undefined, { numeric: true }));
  }

  function objectKey(s) {
    return s.objectType + '/' + s.objectId;
  }

  function objectName(s) {
    return s.objectType + ' ' + s.objectId;
  }

  // updateShares shows in cell the objects shared over the row's connection: a list the user
  // may fold (it starts open), each object as "Type ID", with Unshare on the Share To side.
  // Items are kept and moved rather than rebuilt, so that a focused Unshare keeps the focus.
  function updateShares(dir, cell, id, conn, busy) {
    const key = dir + ':' + id;
    const items = sharesOf(dir, conn);
    let details = cell.querySelector('details');
    const focused = cell.contains(document.activeElement) ? document.activeElement : null;
    if (items.length === 0) {
      let text = '—';
      if (conn && conn.status === 'Connected') text = state.sharesLoaded ? 'None' : 'Loading…';
      if (details || cell.textContent !== text) cell.textContent = text;
      if (focused) focusAction(cell.closest('tr'));
      return;
    }
    if (!details) {
      details = document.createElement('details');
      details.open = !state.collapsed.has(key);
      details.addEventListener('toggle', () => {
        if (details.open) state.collapsed.delete(key);
        else state.collapsed.add(key);
      });
      const list = document.createElement('ul');
      list.className = 'objects';
      details.append(document.createElement('summary'), list);
      cell.replaceChildren(details);
    }
    setText(details.querySelector('summary'), items.length === 1 ? '1 shared object' : items.length + ' shared objects');
    const list = details.querySelector('ul');
    const old = new Map([...list.children].map((li) => [li.dataset.key, li]));
    const focusedAt = focused ? [...list.children].indexOf(focused.closest('li')) : -1;
    let prev = null;
    for (const s of items) {
      const k = objectKey(s);
      let li = old.get(k);
      old.delete(k);
      if (!li) li = newObject(dir, id, s);
      updateObject(dir, li, id, s, busy);
      const next = prev ? prev.nextSibling : list.firstChild;
      if (li !== next) list.insertBefore(li, next);
      prev = li;
    }
    for (const li of old.values()) li.remove();
    // The focused object was unshared: on to its neighbour's Unshare, else the list.
    if (focused && !focused.isConnected) {
      const li = list.children[Math.min(focusedAt, list.children.length - 1)];
      const b = li && li.querySelector('button:not(:disabled)');
      if (b) b.focus();
      else details.querySelector('summary').focus();
    }
  }

  function newObject(dir, counterpart, s) {
    const li = document.createElement('li');
    li.dataset.key = objectKey(s);
    const name = document.createElement('span');
    name.className = 'object';
    name.id = dir + '-object-' + ++state.nextID;
    // "Type ID", which may break between the two only.
    const type = document.createElement('span');
    type.textContent = s.objectType;
    const id = document.createElement('span');
    id.textContent = s.objectId;
    name.append(type, ' ', id);
    li.append(name);
    if (dir === 'outbound') {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Unshare';
      b.setAttribute('aria-describedby', name.id + ' ' + dir + '-name-' + counterpart);
      li.append(' ', b);
    }
    return li;
  }

  function updateObject(dir, li, counterpart, s, busy) {
    const name = li.querySelector('.object');
    name.title = (dir === 'outbound' ? 'Shared with ' : 'Shared from ') + nameOf(counterpart) + ' (' + counterpart + ') by ' +
      s.sharedBy + ' on ' + formatTime(s.sharedAt);
    const b = li.querySelector('button');
    if (!b) return;
    b.onclick = () => unshareObject(counterpart, s);
    const reason = actionReason();
    b.disabled = Boolean(reason) || busy;
    if (reason) b.title = reason;
    else if (busy) b.title = 'Working…';
    else b.title = 'Stop sharing ' + objectName(s) + ' with ' + nameOf(counterpart);
  }

  // focusAction moves the focus to the first action of row that can be used.
  function focusAction(row) {
    const b = row && row.querySelector('td[data-label=Actions] button:not(:disabled)');
    if (b) b.focus();
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function formatTime(s) {
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
  }

  function notAdminReason() {
    return isAdmin() ? '' : 'You are not an admin of ' + nameOf(state.acting);
  }

  // actionReason is why the commands of the page are disabled: the past is shown, or the
  // user is not an admin of the acting entity; '' when they are not.
  function actionReason() {
    return pastReason() || notAdminReason();
  }

  function outboundActions(id, conn, known) {
    const specs = [];
    const live = conn && (conn.status === 'Pending' || conn.status === 'Connected');
    if (!live) {
      const reason = actionReason() || (known ? '' : 'You have no access to ' + nameOf(id));
      specs.push({ name: 'Request Connection', reason, run: () => requestConnection(id) });
    } else if (conn.status === 'Pending') {
      specs.push({ name: 'Cancel', reason: actionReason(), run: () => command('outbound', id, 'cancel the request to ' + nameOf(id), 'PUT', connPath(conn, 'cancel')) });
    } else {
      specs.push({ name: 'Share Object', reason: actionReason(), run: (ev) => askShare(id, ev.currentTarget) });
      specs.push({ name: 'Disconnect', reason: actionReason(), run: (ev) => askDisconnect('outbound', id, conn, ev.currentTarget) });
    }
    if (conn) specs.push({ name: 'History', reason: '', run: (ev) => showHistory(conn.id, ev.currentTarget) });
    return specs;
  }

  function inboundActions(id, conn) {
    const specs = [];
    if (conn.status === 'Pending') {
      specs.push({ name: 'Accept', reason: actionReason(), run: () => command('inbound', id, 'accept the request from ' + nameOf(id), 'PUT', connPath(conn, 'accept')) });
      specs.push({ name: 'Deny', reason: actionReason(), run: (ev) => askDeny(id, conn, ev.currentTarget) });
    } else if (conn.status === 'Connected') {
      specs.push({ name: 'Disconnect', reason: actionReason(), run: (ev) => askDisconnect('inbound', id, conn, ev.currentTarget) });
    }
    specs.push({ name: 'History', reason: '', run: (ev) => showHistory(conn.id, ev.currentTarget) });
    return specs;
  }

  function connPath(conn, verb) {
    return '/v1/entity-connections/' + encodeURIComponent(conn.id) + (verb ? '/' + verb : '');
  }

  function objectPath(type, id, verb) {
    return '/v1/shared-objects/' + encodeURIComponent(type) + '/' + encodeURIComponent(id) + '/' + verb;
  }

  // ---- commands ----

  function requestConnection(target) {
    return command('outbound', target, 'request a connection to ' + nameOf(target), 'POST', '/v1/entity-connections', { targetEntityId: target });
  }

  // command sends a command about the row of counterpart, the row busy meanwhile, then reads
  // its result back. refocus, if given, puts the focus back in the row when the command
  // took it away (its button was disabled or removed).
  async function command(dir, counterpart, what, method, path, body, refocus) {
    const gen = state.gen;
    const key = dir + ':' + counterpart;
    if (state.busy.has(key) || state.asOf) return;
    clearError();
    state.busy.add(key);
    render();
    try {
      const { res } = await api(method, path, { body, gen });
      if (gen !== state.gen) return;
      // Read the result back at once, without waiting for the stream.
      const seq = res.headers.get('Entityconn-Sequence') || '';
      await Promise.all([refresh(gen, seq), reloadShares(gen, seq)]);
    } catch (err) {
      fail(gen, 'Could not ' + what, err);
      // Refused because the page was behind (someone else acted first): show how things are.
      if (gen === state.gen && (err.status === 404 || err.status === 409)) await Promise.all([refresh(gen, ''), reloadShares(gen, 0)]);
    } finally {
      if (gen === state.gen) {
        state.busy.delete(key);
        render();
        if (refocus && (!document.activeElement || document.activeElement === document.body)) refocus(rowOf(dir, counterpart));
      }
    }
  }

  function rowOf(dir, id) {
    return [...el.panels[dir].querySelector('tbody').rows].find((r) => r.dataset.entity === id) || null;
  }

  function askDeny(source, conn, opener) {
    askReason('Deny the request from ' + nameOf(source), 'Deny connection', opener, (reason) =>
      command('inbound', source, 'deny the request from ' + nameOf(source), 'PUT', connPath(conn, 'deny'), reason ? { reason } : undefined));
  }

  function askDisconnect(dir, counterpart, conn, opener) {
    const title = dir === 'outbound' ? 'Stop sharing to ' + nameOf(counterpart) : 'Stop sharing from ' + nameOf(counterpart);
    askReason(title, 'Disconnect connection', opener, (reason) =>
      command(dir, counterpart, 'disconnect ' + nameOf(counterpart), 'PUT', connPath(conn, 'disconnect'), reason ? { reason } : undefined));
  }

  // askShare opens the dialog that shares an object with target, over the row's connection.
  function askShare(target, opener) {
    state.shareTarget = target;
    state.opener = opener;
    el.shareTitle.textContent = 'Share an object with ' + nameOf(target);
    el.shareHint.textContent = 'Users of ' + nameOf(target) + ' may then use the object; it stays in ' + nameOf(state.acting) +
      '. Unshare, or a disconnection, ends the share.';
    el.objectType.value = '';
    el.objectID.value = '';
    el.shareDialog.showModal();
    el.objectType.focus();
  }

  el.shareForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const target = state.shareTarget;
    const type = el.objectType.value.trim();
    const id = el.objectID.value.trim();
    el.shareDialog.close();
    if (target && !state.asOf) shareObject(target, type, id);
  });

  function shareObject(target, type, id) {
    // Show the list the object joins, should the user have folded it.
    state.collapsed.delete('outbound:' + target);
    const row = rowOf('outbound', target);
    const details = row && row.querySelector('details');
    if (details) details.open = true;
    return command('outbound', target, 'share ' + type + ' ' + id + ' with ' + nameOf(target), 'PUT', objectPath(type, id, 'share'),
      { toEntityIds: [target] }, focusAction);
  }

  function unshareObject(target, s) {
    const row = rowOf('outbound', target);
    const at = row ? [...row.querySelectorAll('.objects li')].findIndex((li) => li.dataset.key === objectKey(s)) : -1;
    return command('outbound', target, 'unshare ' + objectName(s) + ' from ' + nameOf(target), 'PUT',
      objectPath(s.objectType, s.objectId, 'unshare'), { fromEntityIds: [target] }, (r) => {
        // On to the object that took its place, else the one before, else the row's actions.
        const items = r ? r.querySelectorAll('.objects li') : [];
        const li = items[Math.min(Math.max(at, 0), items.length - 1)];
        const b = li && li.querySelector('button:not(:disabled)');
        if (b) b.focus();
        else focusAction(r);
      });
  }

  function askReason(title, confirm, opener, action) {
    el.reasonTitle.textContent = title;
    el.reasonConfirm.textContent = confirm;
    el.reason.value = '';
    state.reasonAction = action;
    state.opener = opener;
    el.reasonDialog.showModal();
    el.reason.focus();
  }

  el.reasonForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const action = state.reasonAction;
    const reason = el.reason.value.trim();
    state.reasonAction = null;
    el.reasonDialog.close();
    if (action) action(reason);
  });

  // ---- history ----

  async function showHistory(id, opener) {
    const gen = state.gen;
    state.historyID = id;
    state.opener = opener;
    el.historyTitle.textContent = 'History';
    el.historySummary.textContent = 'Loading…';
    el.historyBody.replaceChildren();
    el.history.showModal();
    el.history.querySelector('.close-dialog').focus();
    await loadHistory(gen, id);
  }

  async function loadHistory(gen, id) {
    let data;
    try {
      ({ data } = await api('GET', connPath({ id }, '') + asOfQuery('?'), { gen }));
    } catch (err) {
      if (gen === state.gen && state.historyID === id) el.historySummary.textContent = 'Could not load the history: ' + err.message;
      failRead(gen, 'Could not load the history', err);
      return;
    }
    if (gen !== state.gen || state.historyID !== id) return;
    el.historyTitle.textContent = 'History: ' + nameOf(data.sourceEntityId) + ' → ' + nameOf(data.targetEntityId) +
      (state.asOf ? ', as of ' + formatUTC(state.asOf) : '');
    el.historySummary.textContent = 'Connection ' + data.id + ' from ' + data.sourceEntityId + ' to ' + data.targetEntityId +
      (state.asOf ? ' was ' + data.status + ' as of ' + formatUTC(state.asOf) + '.' : ' is ' + data.status + '.');
    const rows = (Array.isArray(data.history) ? data.history : []).map((h) => {
      const tr = document.createElement('tr');
      const when = document.createElement('td');
      const t = document.createElement('time');
      t.dateTime = h.at;
      t.textContent = formatTime(h.at);
      when.append(t);
      tr.append(when);
      let what = String(h.type || '').replace(/^Connection/, '');
      if (h.type === 'ConnectionAccepted' && h.actorUserId === AUTO_ACCEPT_ACTOR) what = 'Accepted automatically (sharing settings)';
      else if (h.type === 'ObjectShared') what = 'Shared ' + h.objectType + ' ' + h.objectId;
      else if (h.type === 'ObjectUnshared') what = 'Unshared ' + h.objectType + ' ' + h.objectId;
      const cells = [
        what,
        h.actorUserId || 'the service',
        h.actorEntityId ? nameOf(h.actorEntityId) + ' (' + h.actorEntityId + ')' : '—',
        h.reason || '—',
      ];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    });
    el.historyBody.replaceChildren(...rows);
  }

  // ---- sharing settings ----

  // openSettings shows the acting entity's sharing settings in their dialog, read anew (after
  // a save of this page still in flight, so that it shows what was saved); an admin may
  // change them there, anyone else sees the controls disabled, with the reason.
  async function openSettings(opener) {
    if (state.asOf) return; // its button is disabled meanwhile: the settings have no past here
    const gen = state.gen;
    const load = ++state.settingsLoad;
    const entity = state.acting;
    state.opener = opener;
    el.settingsNote.textContent = '';
    el.settingsTitle.textContent = 'Sharing Settings: ' + nameOf(entity);
    el.settingsHint.textContent = 'Requests for a connection to ' + nameOf(entity) + ' from the entities chosen here are accepted at once, ' +
      'without an admin\'s Accept; any other request waits on Share From. A request already pending stays pending.' +
      (isAdmin() ? '' : ' ' + notAdminReason() + ': you can see this setting but not change it.');
    el.settingsCurrent.textContent = 'Loading the current setting…';
    for (const r of Object.values(el.settingsMode)) r.checked = false;
    el.settingsList.replaceChildren();
    el.settingsOther.value = '';
    setSettingsControls('Loading…');
    el.settingsDialog.showModal();
    el.settingsDialog.querySelector('.close-dialog').focus();
    const current = () => gen === state.gen && load === state.settingsLoad && el.settingsDialog.open;
    if (state.settingsSaving) await state.settingsSaving;
    if (!current()) return;
    let data;
    try {
      ({ data } = await api('GET', SETTINGS_PATH, { gen }));
    } catch (err) {
      if (current()) el.settingsCurrent.textContent = 'Could not load the sharing settings: ' + err.message;
      fail(gen, 'Could not load the sharing settings of ' + nameOf(entity), err);
      return;
    }
    if (!current()) return;
    const from = Array.isArray(data.autoAcceptFrom) ? data.autoAcceptFrom.filter((x) => typeof x === 'string') : [];
    showSettings(from);
  }

  function showSettings(from) {
    const all = from.includes('*');
    const ids = all ? [] : from;
    el.settingsCurrent.textContent = 'Now: ' + describeSettings(from) + '.';
    el.settingsList.replaceChildren(...settingsCandidates(ids).map((id) => sourceItem(id, ids.includes(id))));
    const mode = all ? 'all' : ids.length ? 'some' : 'none';
    el.settingsMode[mode].checked = true;
    const reason = notAdminReason();
    setSettingsControls(reason);
    if (!reason) el.settingsMode[mode].focus();
  }

  // describeSettings puts a setting into words.
  function describeSettings(from) {
    if (from.includes('*')) return 'requests from every entity are accepted automatically';
    if (from.length === 0) return 'no request is accepted automatically';
    const names = from.map((id) => (entityOf(id) || state.names.has(id) ? nameOf(id) + ' (' + id + ')' : id));
    const list = names.length === 1 ? names[0] : names.slice(0, -1).join(', ') + ' and ' + names[names.length - 1];
    return 'requests from ' + list + ' are accepted automatically';
  }

  // settingsCandidates returns the entities the dialog offers: those the user has access to,
  // then the counterparts of the acting entity's connections, then any other in the setting;
  // never the acting entity itself.
  function settingsCandidates(ids) {
    const out = [];
    const add = (id) => {
      if (id && id !== state.acting && !out.includes(id)) out.push(id);
    };
    for (const e of state.entities) add(e.id);
    const counterparts = [];
    for (const c of state.conns.inbound.values()) counterparts.push(c.sourceEntityId);
    for (const c of state.conns.outbound.values()) counterparts.push(c.targetEntityId);
    for (const id of order(counterparts)) add(id);
    for (const id of ids) add(id);
    return out;
  }

  function sourceItem(id, checked) {
    const li = document.createElement('li');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.id = 'settings-source-' + id;
    box.value = id;
    box.checked = checked;
    box.addEventListener('change', () => {
      if (box.checked) el.settingsMode.some.checked = true;
      el.settingsMode.some.setCustomValidity('');
    });
    const label = document.createElement('label');
    label.htmlFor = box.id;
    const note = document.createElement('span');
    note.className = 'hint';
    if (entityOf(id) || state.names.has(id)) {
      label.textContent = nameOf(id);
      note.className += ' mono';
      note.textContent = id;
    } else {
      label.textContent = id;
      note.textContent = '(no such entity)';
      note.title = 'The tenant has no entity ' + id;
    }
    li.append(box, ' ', label, ' ', note);
    return li;
  }

  function sourceBoxes() {
    return [...el.settingsList.querySelectorAll('input[type=checkbox]')];
  }

  // setSettingsControls enables the dialog's controls, or disables them with reason as their
  // title.
  function setSettingsControls(reason) {
    const controls = [...Object.values(el.settingsMode), ...sourceBoxes(), el.settingsOther, el.settingsAdd, el.settingsSave];
    for (const c of controls) {
      c.disabled = Boolean(reason);
      if (reason) c.title = reason;
      else c.removeAttribute('title');
    }
  }

  // addOtherSource adds the entity typed in Other entity ID to the list, checked; it reports
  // false (and says why) if the text is no entity the setting may name.
  function addOtherSource() {
    const id = el.settingsOther.value.trim();
    let why = '';
    if (id && !ENTITY_ID.test(id)) why = 'An entity ID is 1 to 64 letters, digits, _ and -.';
    else if (id && id === state.acting) why = 'This is ' + nameOf(state.acting) + ' itself: an entity has no connection to itself.';
    el.settingsOther.setCustomValidity(why);
    if (why) {
      el.settingsOther.reportValidity();
      return false;
    }
    if (!id) return true;
    let box = sourceBoxes().find((b) => b.value === id);
    if (!box) {
      const li = sourceItem(id, true);
      el.settingsList.append(li);
      box = li.querySelector('input');
    }
    box.checked = true;
    el.settingsMode.some.checked = true;
    el.settingsMode.some.setCustomValidity('');
    el.settingsOther.value = '';
    return true;
  }

  el.settingsOpen.addEventListener('click', (ev) => openSettings(ev.currentTarget));
  el.settingsAdd.addEventListener('click', () => {
    if (addOtherSource()) el.settingsOther.focus();
  });
  el.settingsOther.addEventListener('input', () => el.settingsOther.setCustomValidity(''));
  el.settingsOther.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter') return;
    ev.preventDefault(); // adds the entity rather than saving
    addOtherSource();
  });
  for (const r of Object.values(el.settingsMode)) r.addEventListener('change', () => el.settingsMode.some.setCustomValidity(''));

  el.settingsForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const mode = Object.keys(el.settingsMode).find((m) => el.settingsMode[m].checked);
    if (!mode || !isAdmin()) return;
    let from = [];
    if (mode === 'all') {
      from = ['*'];
    } else if (mode === 'some') {
      if (!addOtherSource()) return; // an entity typed but not added yet is meant too
      from = [...new Set(sourceBoxes().filter((b) => b.checked).map((b) => b.value))];
      if (from.length === 0) {
        el.settingsMode.some.setCustomValidity('Choose at least one entity, or Accept no requests automatically.');
        el.settingsMode.some.reportValidity();
        return;
      }
    }
    el.settingsDialog.close();
    saveSettings(from);
  });

  // saveSettings changes the acting entity's sharing settings; an error shows in role=alert.
  function saveSettings(from) {
    const gen = state.gen;
    const entity = state.acting;
    clearError();
    el.settingsNote.textContent = 'Saving the sharing settings…';
    const saving = (async () => {
      try {
        await api('PUT', SETTINGS_PATH, { body: { autoAcceptFrom: from }, gen });
        if (gen === state.gen) el.settingsNote.textContent = 'Sharing settings saved: ' + describeSettings(from) + '.';
      } catch (err) {
        if (gen === state.gen) el.settingsNote.textContent = '';
        fail(gen, 'Could not save the sharing settings of ' + nameOf(entity), err);
      } finally {
        if (state.settingsSaving === saving) state.settingsSaving = null;
      }
    })();
    state.settingsSaving = saving;
    return saving;
  }

  // ---- as of: the past ----

  // asOfQuery is the asOf parameter of the instant shown, after sep ('?' or '&'); '' for now.
  function asOfQuery(sep) {
    return state.asOf ? sep + 'asOf=' + encodeURIComponent(state.asOf) : '';
  }

  // pastReason is why commands are disabled while the past is shown; '' for now.
  function pastReason() {
    return state.asOf ? 'Viewing as of ' + formatUTC(state.asOf) + ': actions are disabled (choose Now to act)' : '';
  }

  // failRead shows why a read failed. An as-of read that the API refuses (a time the service
  // holds to be in the future: the clocks differ) takes the page back to now, the API's
  // reason in role="alert".
  function failRead(gen, what, err) {
    if (gen !== state.gen) return;
    if (state.asOf && err.status === 400) {
      const at = state.asOf;
      showNow();
      showError('Could not view as of ' + formatUTC(at) + ': ' + err.message);
      return;
    }
    fail(gen, what, err);
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  // formatUTC writes an instant as "31 Oct 2026 00:00 UTC", with the seconds (and their
  // fraction) when there are any.
  function formatUTC(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    let s = d.getUTCDate() + ' ' + MONTHS[d.getUTCMonth()] + ' ' + d.getUTCFullYear() + ' ' + pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
    if (d.getUTCSeconds() || d.getUTCMilliseconds()) s += ':' + pad(d.getUTCSeconds());
    if (d.getUTCMilliseconds()) s += '.' + pad(d.getUTCMilliseconds(), 3);
    return s + ' UTC';
  }

  // formatLocal writes an instant in the browser's time zone, as formatUTC does in UTC.
  function formatLocal(d) {
    let s = d.getDate() + ' ' + MONTHS[d.getMonth()] + ' ' + d.getFullYear() + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
    if (d.getSeconds() || d.getMilliseconds()) s += ':' + pad(d.getSeconds());
    return s;
  }

  // inputValue is the value of a datetime-local field for the instant d, in local time.
  function inputValue(d) {
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function timeZoneName() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
    } catch {
      return '';
    }
  }

  // renderAsOf shows whether the page shows the past: the banner, and the Sharing Settings
  // button, which has no past to show, disabled meanwhile.
  function renderAsOf() {
    const past = Boolean(state.asOf);
    el.workspace.classList.toggle('past', past);
    el.asOfBanner.hidden = !past;
    if (past) {
      const d = new Date(state.asOf);
      const local = d.getTimezoneOffset() === 0 ? '' : ' (' + formatLocal(d) + ' your time)';
      setText(el.asOfBanner, 'Viewing as of ' + formatUTC(state.asOf) + local + ' — actions are disabled. ' +
        'Live changes resume when you choose Now.');
    } else {
      setText(el.asOfBanner, '');
    }
    el.settingsOpen.disabled = past;
    if (past) el.settingsOpen.title = 'Viewing as of ' + formatUTC(state.asOf) + ': the sharing settings show only as they are now (choose Now to see them)';
    else el.settingsOpen.removeAttribute('title');
    if (past) el.asOfNow.title = 'Back to the present: the current state, live changes and actions';
    else el.asOfNow.removeAttribute('title');
  }

  // showAsOf shows the acting entity's connections, shared objects and history as they were
  // at the instant iso (RFC 3339, UTC), read anew.
  function showAsOf(iso) {
    state.asOf = iso;
    switchEntity(state.acting);
  }

  // showNow goes back to the present: everything read anew, and live changes again.
  function showNow() {
    el.asOf.value = '';
    if (!state.asOf) return;
    state.asOf = '';
    switchEntity(state.acting);
  }

  el.asOfForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!state.acting) return;
    clearError();
    const v = el.asOf.value;
    if (!v) {
      // An empty value is also what the field holds while a part of it is missing.
      showError('View as of: enter a complete date and time (day, month, year, hours and minutes), or choose Now.');
      el.asOf.focus();
      return;
    }
    const t = new Date(v); // a datetime-local value has no zone: it is read as local time
    if (Number.isNaN(t.getTime())) {
      showError('View as of: ' + v + ' is not a date and time.');
      el.asOf.focus();
      return;
    }
    if (t.getTime() > Date.now()) {
      showError('Cannot view as of ' + formatUTC(t.toISOString()) + ': that is in the future. Choose a time up to now, or Now.');
      el.asOf.focus();
      return;
    }
    showAsOf(t.toISOString().replace('.000Z', 'Z'));
  });
  el.asOfNow.addEventListener('click', () => {
    clearError();
    showNow();
  });
  // The picker offers nothing later than now.
  for (const type of ['focus', 'pointerdown']) el.asOf.addEventListener(type, () => {
    el.asOf.max = inputValue(new Date(Date.now()));
  });
  {
    const zone = timeZoneName();
    el.asOfHint.textContent = 'Your local time' + (zone ? ' (' + zone + ')' : '') +
      '. The lists, shared objects and History then show how things stood at that instant.';
  }

  // ---- dialogs ----

  const DIALOGS = [el.history, el.reasonDialog, el.shareDialog, el.settingsDialog];

  function closeDialogs() {
    for (const d of DIALOGS) if (d.open) d.close();
  }

  for (const d of DIALOGS) {
    d.addEventListener('close', () => {
      // The event comes after the dialog has closed, as a task of its own: a dialog opened
      // again meanwhile (a History closed and another opened at once) keeps its state.
      if (d.open) return;
      if (d === el.history) state.historyID = '';
      else if (d === el.shareDialog) state.shareTarget = '';
      else if (d === el.settingsDialog) state.settingsLoad++;
      else state.reasonAction = null;
      // Back to the button that opened the dialog, if it is still there.
      if (state.opener && state.opener.isConnected && !state.opener.disabled) state.opener.focus();
      state.opener = null;
    });
    for (const b of d.querySelectorAll('.close-dialog')) b.addEventListener('click', () => d.close());
  }

  // ---- tabs ----

  function selectTab(dir, focus) {
    for (const d of DIRECTIONS) {
      const on = d === dir;
      el.tabs[d].setAttribute('aria-selected', String(on));
      el.tabs[d].tabIndex = on ? 0 : -1;
      el.panels[d].hidden = !on;
    }
    sessionStorage.setItem(TAB_KEY, dir);
    if (focus) el.tabs[dir].focus();
  }

  for (const d of DIRECTIONS) el.tabs[d].addEventListener('click', () => selectTab(d, false));
  $('[role=tablist]').addEventListener('keydown', (ev) => {
    const i = DIRECTIONS.findIndex((d) => el.tabs[d] === document.activeElement);
    if (i < 0) return;
    let next;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown') next = (i + 1) % DIRECTIONS.length;
    else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') next = (i + DIRECTIONS.length - 1) % DIRECTIONS.length;
    else if (ev.key === 'Home') next = 0;
    else if (ev.key === 'End') next = DIRECTIONS.length - 1;
    else return;
    ev.preventDefault();
    selectTab(DIRECTIONS[next], true);
  });

  // ---- wiring ----

  el.signIn.addEventListener('submit', signIn);
  el.signOut.addEventListener('click', signOut);
  el.dismiss.addEventListener('click', clearError);
  el.entity.addEventListener('change', () => {
    // A select without options yet (the entities are loading) has no value to switch to.
    if (!entityOf(el.entity.value)) return;
    clearError();
    switchEntity(el.entity.value);
  });

  selectTab(DIRECTIONS.includes(sessionStorage.getItem(TAB_KEY)) ? sessionStorage.getItem(TAB_KEY) : 'outbound', false);
  const saved = loadSession();
  if (saved && saved.expiresAt > Date.now()) {
    state.token = saved.token;
    state.expiresAt = saved.expiresAt;
    state.client = saved.client || '';
    state.user = typeof saved.user === 'string' ? saved.user : '';
    if (state.user) start();
    else sessionEnded('the session does not say which user it is (it predates this page)');
  } else {
    el.signIn.hidden = false;
    if (saved) {
      sessionStorage.removeItem(TOKEN_KEY);
      showError('Your session has ended: the access token expired. Sign in again.');
    }
    el.clientID.focus();
  }
})();
