// Every screen's login form (the NSOC wall, the PPK station): JSON to {prefix}/api/login, then the screen itself.
const base = location.pathname.replace(/login$/, '');
document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = document.getElementById('error');
  error.textContent = '';
  const body = JSON.stringify({ name: document.getElementById('name').value, password: document.getElementById('password').value });
  const r = await fetch(base + 'api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, credentials: 'same-origin' });
  if (r.ok) { location.href = base; return; }
  const answer = await r.json().catch(() => ({}));
  error.textContent = answer.error || ('Gagal masuk (' + r.status + ').');
});
