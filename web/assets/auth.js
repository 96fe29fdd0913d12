// The pages before the chat on a server with access control: sign in, set
// up the first admin with the setup token, and join a room from a guest
// invite link. Each form shows the server's error in the form itself.

import * as api from './api.js';

/**
 * AuthView owns the sign-in, setup and join forms in root, shown instead of
 * app. onSignedIn(who) runs after a login or setup with the server's {name,
 * role}; onJoined(who) after joining, with {name, role, room}.
 */
export class AuthView {
  constructor({ root, app, signInForm, setupForm, joinForm, onSignedIn, onJoined }) {
    Object.assign(this, { root, app, onSignedIn, onJoined });
    const signIn = parts(signInForm, 'Sign in');
    const setup = parts(setupForm, 'Set up');
    const join = parts(joinForm, 'Join');
    Object.assign(this, { signIn, setup, join });
    this.code = '';

    this.handle(signIn, async () => {
      const name = value(signIn.name).toLowerCase();
      const password = signIn.password.value;
      if (!name || !password) return 'Please enter your name and password.';
      this.onSignedIn(await api.login(name, password));
      return '';
    });
    this.handle(setup, async () => {
      const token = value(setup.token);
      const name = value(setup.name).toLowerCase();
      const password = setup.password.value;
      if (!token || !name || !password) return 'Please fill in the setup token, a name and a password.';
      if (password.length < 8) return 'Passwords are at least 8 characters.';
      this.onSignedIn(await api.setup(token, name, password));
      return '';
    });
    this.handle(join, async () => {
      const name = value(join.name).replace(/\s+/g, ' ');
      if (!name) return 'Please enter your name.';
      try {
        this.onJoined(await api.join(this.code, name));
      } catch (err) {
        if (err instanceof api.ApiError && err.status === 404) return 'This invite link is invalid or has expired.';
        throw err;
      }
      return '';
    });
    signInForm.querySelector('[data-show="setup"]').addEventListener('click', () => this.show(setup));
    setupForm.querySelector('[data-show="signin"]').addEventListener('click', () => this.show(signIn));
  }

  // handle runs submit for form: it returns an error message for the form,
  // or '' when done; a thrown ApiError shows the server's reason.
  handle(form, submit) {
    form.form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (form.busy) return;
      form.busy = true;
      form.button.disabled = true;
      let message;
      try {
        message = await submit();
      } catch (err) {
        message = reason(err);
      } finally {
        form.busy = false;
        form.button.disabled = false;
      }
      showError(form, message);
      if (message) form.first().focus();
    });
  }

  /**
   * showSignIn shows the sign-in form, with note (e.g. why the session
   * ended) above it; offerSetup adds the way to the setup form.
   */
  showSignIn({ note = '', offerSetup = false } = {}) {
    const f = this.signIn;
    const noteElement = f.form.querySelector('.auth-note');
    noteElement.textContent = note;
    noteElement.hidden = !note;
    f.form.querySelector('[data-show="setup"]').hidden = !offerSetup;
    f.password.value = '';
    this.show(f);
  }

  /** showSetup shows the form that creates the first admin. */
  showSetup() {
    this.signIn.form.querySelector('[data-show="setup"]').hidden = false;
    this.show(this.setup);
  }

  /** showJoin shows the form that redeems invite code for a guest session. */
  showJoin(code) {
    this.code = code;
    this.show(this.join);
  }

  /**
   * warnSignedIn tells a signed-in user on the join page that joining would
   * replace their session in this browser with a guest's.
   */
  warnSignedIn(name) {
    const note = this.join.form.querySelector('#join-signed-in');
    const back = document.createElement('a');
    back.href = '/';
    back.textContent = `go to your rooms as ${name}`;
    note.replaceChildren(
      `You are signed in as ${name}. Joining signs you out of this browser and back in as a guest of one room; or `,
      back,
      '.',
    );
    note.hidden = false;
  }

  show(form) {
    for (const f of [this.signIn, this.setup, this.join]) {
      f.form.hidden = f !== form;
      showError(f, '');
    }
    this.app.hidden = true;
    this.root.hidden = false;
    document.title = `${form.title} · Parley`;
    form.first().focus();
  }
}

// parts finds what the code needs in one form: its named fields, the
// error line and the submit button.
function parts(form, title) {
  const field = (name) => form.elements.namedItem(name);
  return {
    form,
    title,
    token: field('token'),
    name: field('username') || field('name'),
    password: field('password'),
    error: form.querySelector('.field-error'),
    button: form.querySelector('button[type="submit"]'),
    busy: false,
    // first is where typing continues: the first empty field.
    first: () => [...form.querySelectorAll('input')].find((i) => !i.value) || form.querySelector('input'),
  };
}

function value(input) {
  return input.value.trim();
}

function showError(form, message) {
  form.error.textContent = message;
  form.error.hidden = !message;
}

function reason(err) {
  if (!(err instanceof api.ApiError)) return 'Something went wrong. Please try again.';
  if (err.status === 429) return `Too many attempts, try again in ${err.retryAfter || 60} s.`;
  return err.message;
}
