document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = document.getElementById('error');
  error.textContent = '';
  const body = JSON.stringify({ name: document.getElementById('name').value, password: document.getElementById('password').value });
  const r = await fetch('/ppk/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, credentials: 'same-origin' });
  if (r.ok) { location.href = '/ppk/'; return; }
  const answer = await r.json().catch(() => ({}));
  error.textContent = answer.error || ('Gagal masuk (' + r.status + ').');
});
