() => {
  // A click on a citation link opens (and scrolls to) the source it points to. The chat's
  // sanitizer keeps id, class and href but drops data-* attributes, hence the lookup by the
  // link's fragment.
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a.cite');
    if (!link) return;
    const target = document.getElementById((link.getAttribute('href') || '').slice(1));
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    target.open = true;
    target.classList.add('src-flash');
    setTimeout(() => target.classList.remove('src-flash'), 1200);
    target.scrollIntoView({block: 'nearest', behavior: 'smooth'});
  }, true);

  // Autoscroll: once a reader opened a citation (scrolling the chat up), the chat's own
  // autoscroll stops for good and the next answer lands out of sight. Here every new or growing
  // message scrolls the chat's scrolling box to its end again, on desktop and phone alike.
  const scroller = (chat) => {
    for (const e of chat.querySelectorAll('*')) {
      const s = getComputedStyle(e).overflowY;
      if ((s === 'auto' || s === 'scroll') && e.scrollHeight > e.clientHeight + 2) return e;
    }
    return null;
  };
  let lastText = '';
  const follow = () => {
    const chat = document.getElementById('chat');
    if (!chat) return;
    const answers = chat.querySelectorAll('.message, [data-testid="bot"], [data-testid="user"]');
    const last = answers.length ? answers[answers.length - 1].textContent : '';
    const key = answers.length + ':' + last.length;
    if (key === lastText) return;
    lastText = key;
    const box = scroller(chat);
    if (box) box.scrollTop = box.scrollHeight;
  };
  const watch = () => {
    const chat = document.getElementById('chat');
    if (!chat) { setTimeout(watch, 300); return; }
    new MutationObserver(() => requestAnimationFrame(follow))
      .observe(chat, {childList: true, subtree: true, characterData: true});
  };
  watch();
}
