import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, html } from '../../src/manager/html.ts';

test('html escapes every interpolated value, keeps nested fragments, joins arrays and drops null, undefined and false', () => {
  const name = `"><script>alert('x')</script>&`;
  const inner = html`<b>${name}</b>`;
  const page = html`<td title="${name}">${inner}${[html`<i>1</i>`, '<2>']}${null}${undefined}${false}${0}</td>`;
  assert.equal(
    page.text,
    '<td title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"><b>&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</b><i>1</i>&lt;2&gt;0</td>',
  );
  assert.equal(escapeHtml(`<>&"'`), '&lt;&gt;&amp;&quot;&#39;');
});
