// The playground: every flag for one context in every environment, with the
// live rules (`POST /api/v1/playground`). Each answer links to that flag's
// explain box, filled with the same context, in that environment.
import { api } from './api.js';
import { ErrorLine, html, show, useSession, useState } from './lib.js';
import { ContextFields, reasonText, useLearned } from './explain.js';

export function PlaygroundPage() {
  const { env, setEnv, environments } = useSession();
  const envName = (key) => environments.find((e) => e.key === key)?.name || key;
  const [text, setText] = useState('{"key": "u-42"}');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const learned = useLearned(env);
  async function run(e) {
    e.preventDefault();
    setError(null);
    let context;
    try {
      context = JSON.parse(text);
    } catch (err) {
      return setError({ message: `The context is not valid JSON: ${err.message}` });
    }
    try {
      setResult({ ...(await api('POST', '/playground', { body: { context } })).data, context });
    } catch (err) {
      setResult(null);
      setError(err);
    }
  }
  return html`<section>
    <h1>Playground</h1>
    <p class="muted">What one player or request gets from every flag, in every environment, with the live rules.</p>
    <form class="card" onSubmit=${run} aria-label="Context">
      <${ContextFields} id="playground" label="Context (JSON)" text=${text} onText=${setText} learned=${learned} />
      <div class="actions left"><button type="submit" class="primary">Evaluate every flag</button></div>
      <${ErrorLine} error=${error} />
    </form>
    ${result
      ? html`<div class="table-scroll"><table id="playground-result" aria-label="Every flag for this context">
          <thead><tr><th scope="col">Flag</th>${result.environments.map((e) => html`<th scope="col">${envName(e)}</th>`)}</tr></thead>
          <tbody>
            ${result.flags.length === 0 ? html`<tr><td colspan=${result.environments.length + 1} class="muted">No flags yet.</td></tr>` : null}
            ${result.flags.map(
              (f) => html`<tr data-flag=${f.key}><th scope="row">${f.name || f.key}<br /><code class="key">${f.key}</code></th>
                ${result.environments.map((e) => {
                  const a = f.results[e];
                  if (!a) return html`<td class="muted">not loaded</td>`;
                  const href = `#/flags/${encodeURIComponent(f.key)}?explain=${encodeURIComponent(JSON.stringify(result.context))}`;
                  return html`<td data-env=${e}><code>${show(a.value)}</code>
                    <div class="muted small">${reasonText(a.reason)}</div>
                    <a href=${href} onClick=${() => setEnv(e)} aria-label=${`Explain ${f.key} in ${envName(e)}`}>Explain</a></td>`;
                })}</tr>`,
            )}
          </tbody></table></div>`
      : null}
  </section>`;
}
