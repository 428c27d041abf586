// Short-lived notifications in the bottom-right corner: `.toast.info|warn|error`.

const LIFETIME = { info: 3500, warn: 4500, error: 9000 };

function container() {
  let box = document.getElementById('toasts');
  if (!box) {
    box = document.createElement('div');
    box.id = 'toasts';
    document.body.appendChild(box);
  }
  return box;
}

/**
 * Show a message; errors stay longer and can be dismissed by a click.
 * @param {string} message text (newlines kept)
 * @param {'info'|'warn'|'error'} [kind]
 * @param {number} [ms] lifetime; 0 keeps it until clicked
 */
export function toast(message, kind = 'info', ms = LIFETIME[kind] ?? 4000) {
  const box = container();
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.textContent = message;
  el.title = 'Click to dismiss';
  const remove = () => {
    el.classList.add('leaving');
    setTimeout(() => el.remove(), 200);
  };
  el.addEventListener('click', remove);
  box.appendChild(el);
  while (box.children.length > 6) box.firstElementChild.remove();
  if (ms > 0) setTimeout(remove, ms);
  return el;
}
