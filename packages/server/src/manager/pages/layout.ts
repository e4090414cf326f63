import { html, type Html } from '../html.ts';
import { HTMX, HTMX_SSE } from '../manager-assets.ts';

/** The document around every manager page: the vendored htmx, the manager's own CSS and script, no inline code. */
export function layout(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}'>
<title>${title} · Pombo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/manager/assets/manager.css">
<script src="${HTMX}" defer></script>
<script src="${HTMX_SSE}" defer></script>
<script src="/manager/assets/manager.js" defer></script>
</head>
<body>
${body}
</body>
</html>
`;
}
