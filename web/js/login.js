// The login view: user name and password. The password is read from its field when the
// form is sent and the field is emptied at once; it lives only in that one request. Wrong
// credentials (401) and too many attempts (429, with the server's Retry-After as a
// countdown) are said plainly above the form.

import { h } from './dom.js';
import { login } from './auth.js';

export function loginView({ onLoggedIn }) {
  const error = h('p', { class: 'notice error', id: 'login-error', role: 'alert', hidden: true });
  const info = h('p', { class: 'login-info', id: 'login-info', role: 'status', hidden: true });
  const user = h('input', {
    id: 'login-user',
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
  });
  const password = h('input', {
    id: 'login-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Log in');
  const form = h('form', { class: 'login-card', id: 'login-form', novalidate: true, 'aria-labelledby': 'login-title' },
    h('div', { class: 'login-brand' }, h('img', { src: '/ui/favicon.svg', alt: '', width: '28', height: '28' }), h('h1', { id: 'login-title' }, 'Log in to vigil')),
    info,
    error,
    h('label', { for: 'login-user' }, 'User'),
    user,
    h('label', { for: 'login-password' }, 'Password'),
    password,
    submit);
  const root = h('section', { class: 'view login', id: 'view-login', 'aria-labelledby': 'login-title' }, form);

  let busy = false;
  let blockedUntil = 0;
  let countdown = null;

  function say(text) {
    error.textContent = text || '';
    error.hidden = !text;
  }

  function unblock() {
    clearInterval(countdown);
    countdown = null;
    blockedUntil = 0;
    submit.disabled = busy;
  }

  // 429: no attempts until the server's Retry-After has passed; the message counts down.
  function block(seconds) {
    clearInterval(countdown);
    if (!Number.isFinite(seconds) || seconds === null) {
      say('Too many failed logins. Wait a minute, then try again.');
      return;
    }
    blockedUntil = Date.now() + seconds * 1000;
    submit.disabled = true;
    const tick = () => {
      const left = Math.ceil((blockedUntil - Date.now()) / 1000);
      if (left <= 0) {
        unblock();
        say('');
        return;
      }
      say(`Too many failed logins. Try again in ${left} s.`);
    };
    tick();
    countdown = setInterval(tick, 1000);
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy || Date.now() < blockedUntil) return;
    const name = user.value.trim();
    if (!name) {
      say('Enter your user name.');
      user.focus();
      return;
    }
    if (!password.value) {
      say('Enter your password.');
      password.focus();
      return;
    }
    busy = true;
    submit.disabled = true;
    submit.textContent = 'Logging in…';
    say('');
    // The field is emptied before the request leaves: the password is not kept anywhere.
    const request = login(name, password.value);
    password.value = '';
    try {
      const who = await request;
      busy = false;
      unblock();
      info.hidden = true;
      onLoggedIn(who);
    } catch (e) {
      busy = false;
      submit.disabled = false;
      if (e.status === 401) {
        say('Wrong user name or password.');
        password.focus();
      } else if (e.status === 429) {
        block(e.retryAfter);
      } else if (e.status === 0) {
        say('Cannot reach the server. Check the connection and try again.');
      } else {
        say(`Cannot log in: ${e.message}`);
      }
    } finally {
      submit.textContent = 'Log in';
    }
  });

  return {
    root,
    // Shows the form, with `reason` (why the user is here) when given.
    show(reason) {
      info.textContent = reason || '';
      info.hidden = !reason;
      if (!countdown) say('');
      password.value = '';
      (user.value ? password : user).focus();
    },
  };
}
