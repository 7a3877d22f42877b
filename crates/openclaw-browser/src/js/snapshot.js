(() => {
  // Tag visible interactive elements with stable refs (data-openclaw-ref);
  // an element keeps its ref for the life of the document.
  const SEL = 'a[href],button,input,select,textarea,summary,[role=button],[role=link],' +
    '[role=checkbox],[role=radio],[role=tab],[role=menuitem],[role=textbox],' +
    '[onclick],[contenteditable=""],[contenteditable=true],[tabindex]:not([tabindex="-1"])';
  if (typeof window.__openclawRefSeq !== 'number') window.__openclawRefSeq = 0;
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0';
  };
  const clip = (s, n) => { s = (s || '').replace(/\s+/g, ' ').trim(); return s.length > n ? s.slice(0, n) + '…' : s; };
  const roleOf = (el) => {
    const r = el.getAttribute('role');
    if (r) return r;
    const t = el.tagName.toLowerCase();
    if (t === 'a') return 'link';
    if (t === 'button' || t === 'summary') return 'button';
    if (t === 'select') return 'combobox';
    if (t === 'textarea') return 'textbox';
    if (t === 'input') {
      const ty = (el.getAttribute('type') || 'text').toLowerCase();
      if (ty === 'checkbox' || ty === 'radio') return ty;
      if (ty === 'submit' || ty === 'button' || ty === 'reset') return 'button';
      return 'textbox';
    }
    if (el.isContentEditable) return 'textbox';
    return 'generic';
  };
  const nameOf = (el) => {
    const a = el.getAttribute('aria-label');
    if (a) return clip(a, 120);
    const lb = el.getAttribute('aria-labelledby');
    if (lb) { const n = document.getElementById(lb); if (n) return clip(n.innerText, 120); }
    if (el.labels && el.labels.length) return clip(el.labels[0].innerText, 120);
    const t = clip(el.innerText || el.value || '', 120);
    if (t) return t;
    return clip(el.getAttribute('placeholder') || el.getAttribute('title') || el.getAttribute('alt') || el.getAttribute('name') || '', 120);
  };
  const elements = [];
  for (const el of document.querySelectorAll(SEL)) {
    if (!visible(el)) continue;
    let ref = el.getAttribute('data-openclaw-ref');
    if (!ref) { ref = 'e' + (++window.__openclawRefSeq); el.setAttribute('data-openclaw-ref', ref); }
    const item = { ref, role: roleOf(el), name: nameOf(el), tag: el.tagName.toLowerCase() };
    if (el.tagName === 'A') item.href = el.href;
    if ('value' in el && el.tagName !== 'BUTTON') item.value = clip(String(el.value), 200);
    if (el.type === 'checkbox' || el.type === 'radio') item.checked = !!el.checked;
    if (el.disabled) item.disabled = true;
    elements.push(item);
  }
  const text = document.body ? document.body.innerText : '';
  return JSON.stringify({
    url: location.href,
    title: document.title,
    text: text.length > 20000 ? text.slice(0, 20000) + '…' : text,
    elements,
  });
})()
