// Pombo manager: keeps the live event list short (the page allows no inline script).
document.addEventListener('htmx:sseMessage', function () {
  var rows = document.querySelectorAll('#events > tr');
  for (var i = 200; i < rows.length; i++) rows[i].remove();
});
