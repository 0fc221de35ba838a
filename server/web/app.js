// PassCom web app: the shell (header, federation status, loading indicator, flash messages),
// the hash router, and the log-in and register screens. The other screens live in search.js,
// booking.js and passes.js; each exports a render(ctx) that fills <main>.

import { endpoints, session } from './api.js';
import { h, replace, errorBox, notice, airlineName } from './dom.js';
import { renderSearch } from './search.js';
import { renderBooking } from './booking.js';
import { renderPasses, renderPass } from './passes.js';

const main = document.getElementById('main');
const flashArea = document.getElementById('flash');
const loading = document.getElementById('loading');
const federation = document.getElementById('federation');
const account = document.getElementById('account');

// ---- router --------------------------------------------------------------------------------

const ROUTES = [
  [/^\/(search)?$/, 'search', renderSearch],
  [/^\/book$/, 'search', renderBooking],
  [/^\/passes$/, 'passes', renderPasses],
  [/^\/pass\/([^/]+)$/, 'passes', renderPass],
  [/^\/login$/, 'login', renderLogin],
  [/^\/register$/, 'register', renderRegister],
];

let generation = 0;
let lastPath = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  const at = raw.indexOf('?');
  const path = at < 0 ? raw : raw.slice(0, at);
  return { path: path || '/search', params: new URLSearchParams(at < 0 ? '' : raw.slice(at + 1)) };
}

/** Goes to `hash` ("#/passes"); renders again when it is already the current one. */
export function navigate(hash) {
  const before = location.hash;
  location.hash = hash;
  if (location.hash === before) render(); // no hashchange event for the same hash: search again
}

/** The current location, to come back to after logging in. */
export function currentHash() {
  return location.hash || '#/search';
}

function render() {
  generation += 1;
  const mine = generation;
  const { path, params } = parseHash();
  const samePath = path === lastPath;
  const focusedId = samePath && main.contains(document.activeElement) ? document.activeElement.id : null;
  lastPath = path;

  let match = null;
  let entry = null;
  for (const candidate of ROUTES) {
    match = candidate[0].exec(path);
    if (match) {
      entry = candidate;
      break;
    }
  }
  for (const link of document.querySelectorAll('.nav a')) {
    if (entry && link.dataset.route === entry[1]) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  showFlash();
  main.replaceChildren();
  const ctx = {
    main,
    params,
    match,
    alive: () => mine === generation,
    navigate,
    flash,
    currentHash,
  };
  if (!entry) {
    renderNotFound(ctx);
  } else {
    try {
      entry[2](ctx);
    } catch (error) {
      console.warn('view failed', error);
      replace(main, errorBox(null));
    }
  }
  if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus();
  else if (!samePath && !main.contains(document.activeElement)) main.querySelector('h1')?.focus();
}

function renderNotFound({ main: el }) {
  replace(el,
    h('h1', { tabindex: '-1' }, 'Page not found'),
    h('p', {}, h('a', { href: '#/search' }, 'Search for flights')));
}

// ---- flash messages: one message carried over the next navigation --------------------------

let pendingFlash = null;

export function flash(message, kind = 'info') {
  pendingFlash = { message, kind };
}

function showFlash() {
  flashArea.replaceChildren();
  if (!pendingFlash) return;
  const { message, kind } = pendingFlash;
  pendingFlash = null;
  const box = notice(kind, h('p', { class: 'alert-title', text: message }),
    h('button', {
      type: 'button', class: 'link dismiss', 'aria-label': 'Dismiss message',
      onclick: () => flashArea.replaceChildren(),
    }, '×'));
  box.dataset.testid = 'flash';
  flashArea.appendChild(box);
}

// ---- header: account, federation status, loading indicator ---------------------------------

function renderAccount() {
  const current = session.get();
  if (current) {
    replace(account,
      h('span', { class: 'who', testid: 'logged-in-as' }, 'Logged in as ', h('strong', { text: current.login || 'you' })),
      h('button', {
        type: 'button', class: 'link', testid: 'logout',
        onclick: () => {
          session.clear();
          flash('You are logged out.');
          navigate('#/search');
        },
      }, 'Log out'));
  } else {
    replace(account,
      h('a', { href: '#/login', testid: 'nav-login' }, 'Log in'),
      h('a', { href: '#/register', testid: 'nav-register', class: 'button-link' }, 'Register'));
  }
}

async function refreshFederation() {
  try {
    const status = await endpoints.federation();
    const peers = Array.isArray(status.peers) ? [...status.peers] : [];
    peers.sort((x, y) => String(x.airline).localeCompare(String(y.airline)));
    replace(federation,
      h('span', { testid: 'home-airline', 'data-airline': status.airline },
        'You are at airline ', h('strong', { text: airlineName(status.airline) })),
      peers.map((peer) => {
        const up = peer.reachable === true && peer.breaker !== 'open';
        return [' · ', h('span', {
          class: ['peer', up ? 'up' : 'down'],
          testid: 'peer',
          'data-airline': peer.airline,
          'data-reachable': String(up),
          title: `Airline ${airlineName(peer.airline)}: ${up ? 'answering' : 'not answering'}`,
        }, String(peer.airline), h('span', { 'aria-hidden': 'true', text: up ? ' ✓' : ' ✗' }),
        h('span', { class: 'visually-hidden', text: up ? ' (answering)' : ' (not answering)' }))];
      }));
  } catch {
    replace(federation, h('span', { class: 'peer down' }, 'This airline’s server is not answering'));
  }
}

window.addEventListener('passcom:busy', (event) => {
  const busy = event.detail > 0;
  loading.hidden = !busy;
  main.setAttribute('aria-busy', String(busy));
});

window.addEventListener('passcom:session', renderAccount);

window.addEventListener('passcom:expired', () => {
  flash('Your session expired, please log in again.', 'warning');
  const back = currentHash();
  navigate(back.startsWith('#/login') ? back : `#/login?next=${encodeURIComponent(back)}`);
});

document.getElementById('skip-link').addEventListener('click', () => main.focus());

// ---- log in and register -------------------------------------------------------------------

/** Where to go after logging in: only a hash of this app, never another address. */
function nextHash(params) {
  const next = params.get('next') || '';
  return /^#\/[^\s]*$/.test(next) && !next.startsWith('#/login') && !next.startsWith('#/register') ? next : '#/search';
}

function field(label, input, hint) {
  const hintId = hint ? `${input.id}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' },
    h('label', { for: input.id, text: label }),
    input,
    hint && h('p', { class: 'hint', id: hintId, text: hint }));
}

function authForm({ ctx, title, testid, submitLabel, hint, other, onSubmit }) {
  const login = h('input', {
    id: 'auth-login', name: 'login', type: 'text', required: true, autocomplete: 'username',
    autocapitalize: 'none', spellcheck: false, minLength: 3, maxLength: 64, testid: 'login-input',
  });
  const password = h('input', {
    id: 'auth-password', name: 'password', type: 'password', required: true, maxLength: 128,
    autocomplete: testid === 'register-form' ? 'new-password' : 'current-password', testid: 'password-input',
  });
  if (testid === 'register-form') {
    login.pattern = '[A-Za-z0-9._\\-]{3,64}';
    password.minLength = 8;
  }
  const status = h('div', { class: 'form-status' });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'auth-submit' }, submitLabel);
  const form = h('form', { class: 'card narrow', testid, novalidate: true },
    field('Login', login, hint?.login),
    field('Password', password, hint?.password),
    status,
    h('div', { class: 'actions' }, submit),
    h('p', { class: 'muted' }, other));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const loginValue = login.value.trim().toLowerCase();
    if (!form.checkValidity()) {
      status.appendChild(notice('warning', h('p', { class: 'alert-title', text: testid === 'register-form'
        ? 'Please choose a login of 3-64 characters (a-z, 0-9, . _ -) and a password of 8-128 characters.'
        : 'Please enter your login and password.' })));
      (form.querySelector(':invalid') || login).focus();
      return;
    }
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      await onSubmit(loginValue, password.value);
    } catch (error) {
      if (!ctx.alive()) return;
      status.appendChild(errorBox(error, { testid: 'auth-error' }));
      password.value = '';
      (error.code === 'login_taken' ? login : password).focus();
    } finally {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });
  replace(ctx.main, h('h1', { tabindex: '-1', text: title }), form);
  login.focus();
}

function renderLogin(ctx) {
  const next = nextHash(ctx.params);
  authForm({
    ctx,
    title: 'Log in',
    testid: 'login-form',
    submitLabel: 'Log in',
    other: ['No account yet? ', h('a', { href: `#/register?next=${encodeURIComponent(next)}` }, 'Register')],
    onSubmit: async (login, password) => {
      const answer = await endpoints.logIn(login, password);
      session.set(answer, login);
      flash(`Welcome, ${login}.`, 'success');
      navigate(next);
    },
  });
}

function renderRegister(ctx) {
  const next = nextHash(ctx.params);
  authForm({
    ctx,
    title: 'Create your account',
    testid: 'register-form',
    submitLabel: 'Register',
    hint: {
      login: '3-64 characters: lowercase letters, digits, dot, underscore or hyphen. One account works at every airline.',
      password: '8-128 characters.',
    },
    other: ['Already registered? ', h('a', { href: `#/login?next=${encodeURIComponent(next)}` }, 'Log in')],
    onSubmit: async (login, password) => {
      await endpoints.register(login, password);
      try {
        session.set(await endpoints.logIn(login, password), login);
        flash(`Your account ${login} is ready. Welcome!`, 'success');
        navigate(next);
      } catch {
        flash('Your account is ready. Please log in.', 'success');
        navigate(`#/login?next=${encodeURIComponent(next)}`);
      }
    },
  });
}

// ---- start ---------------------------------------------------------------------------------

window.addEventListener('hashchange', render);
renderAccount();
refreshFederation();
setInterval(refreshFederation, 20000);
render();
