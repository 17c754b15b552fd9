// SPDX-License-Identifier: MIT
// Form controls derived from an OpenAPI schema, so the console follows the API's settings
// without a change of its own: enum → select, integer/number → number input (empty means
// null when the schema allows it), array of strings → one comma-separated input, object of
// strings → a name/value list, anything else → a JSON textarea checked before it is sent.
// Each control knows its value, whether it changed, and shows its own error (a 422's message
// for that field, or what the browser could not read).
import { h, humanize } from './ui.js';

// What the type says first (what the setting is), then what the property adds.
function joined(inner, outer) {
  return [inner.description, outer.description].filter(Boolean).join(' ');
}

// The schema with $ref followed and "anyOf [X, null]" folded into X plus nullable.
export function resolve(spec, schema, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 8) return {};
  let s = schema;
  if (s.$ref) {
    const name = s.$ref.replace('#/components/schemas/', '');
    const target = spec && spec.components && spec.components.schemas && spec.components.schemas[name];
    const inner = resolve(spec, target, depth + 1);
    s = { ...inner, ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$ref')), description: joined(inner, s) };
  }
  if (Array.isArray(s.anyOf)) {
    const rest = s.anyOf.filter((x) => !(x && x.type === 'null'));
    if (rest.length === 1) {
      const inner = resolve(spec, rest[0], depth + 1);
      s = { ...inner, ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'anyOf')),
        nullable: inner.nullable || rest.length < s.anyOf.length, description: joined(inner, s) };
    }
  }
  const types = Array.isArray(s.type) ? s.type : (s.type ? [s.type] : []);
  const main = types.filter((t) => t !== 'null');
  return { ...s, mainType: main.length === 1 ? main[0] : null, nullable: !!s.nullable || types.includes('null') };
}

// Which control a schema gets.
export function kindOf(s) {
  if (Array.isArray(s.enum) && s.enum.every((x) => typeof x === 'string')) return 'enum';
  if (s.mainType === 'integer' || s.mainType === 'number') return 'number';
  if (s.mainType === 'boolean') return 'boolean';
  if (s.mainType === 'array' && s.items && s.items.type === 'string') return 'strings';
  if (s.mainType === 'object' && s.additionalProperties && s.additionalProperties.type === 'string' &&
      !s.properties) return 'map';
  if (s.mainType === 'string') return 'string';
  return 'json';
}

// A value as the endpoint's page shows it.
export function display(value) {
  if (value === null || value === undefined) return h('span', { class: 'muted' }, 'Default');
  if (Array.isArray(value)) return value.length ? value.join(', ') : h('span', { class: 'muted' }, 'None');
  if (typeof value === 'object') {
    const e = Object.entries(value);
    if (!e.length) return h('span', { class: 'muted' }, 'None');
    if (e.every(([, v]) => typeof v === 'string')) {
      return h('ul', { class: 'pairs' }, e.map(([k, v]) => h('li', {}, h('code', {}, k), ': ', v)));
    }
    return JSON.stringify(value);
  }
  return String(value);
}

const same = (a, b) => JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b);

// The first sentence of a schema's description: enough for a hint under the label.
function shortHint(s) {
  const d = String(s.description || '').replace(/`/g, '');
  const m = d.match(/^.*?[.;](\s|$)/);
  return (m ? m[0] : d).trim().replace(/;$/, '.');
}

function numberControl(id, name, s, value) {
  const input = h('input', { id, name, type: 'number', inputmode: s.mainType === 'integer' ? 'numeric' : 'decimal',
    step: s.mainType === 'integer' ? '1' : 'any', min: s.minimum, max: s.maximum,
    value: value === null || value === undefined ? '' : String(value) });
  const hint = [shortHint(s), s.nullable ? 'Leave empty for the default.' : ''].filter(Boolean).join(' ');
  return { input, hint, read() {
    if (input.validity.badInput) return { error: 'Enter a number.' };
    const t = input.value.trim();
    if (t === '') return { value: s.nullable ? null : undefined };
    return { value: Number(t) };
  } };
}

function enumControl(id, name, s, value) {
  const current = value === null || value === undefined ? (s.default !== undefined ? s.default : '') : value;
  const options = [...s.enum];
  if (current !== '' && !options.includes(current)) options.push(current);
  const input = h('select', { id, name },
    s.nullable || current === '' ? h('option', { value: '', selected: current === '' }, '—') : null,
    options.map((o) => h('option', { value: o, selected: o === current }, o)));
  return { input, hint: shortHint(s), initial: current === '' ? null : current, read() {
    return { value: input.value === '' ? null : input.value };
  } };
}

function stringsControl(id, name, s, value) {
  const input = h('input', { id, name, type: 'text', autocomplete: 'off',
    value: Array.isArray(value) ? value.join(', ') : '' });
  const ex = s.items && Array.isArray(s.items.examples) ? ', such as ' + s.items.examples.join(', ') : '';
  const hint = 'Comma-separated' + ex + '.' + (s.nullable ? ' Leave empty for the default.' : '');
  return { input, hint, read() {
    const list = input.value.split(',').map((x) => x.trim()).filter(Boolean);
    if (!list.length) return { value: s.nullable ? null : [] };
    return { value: list };
  } };
}

function stringControl(id, name, s, value) {
  const input = h('input', { id, name, type: 'text', maxlength: s.maxLength, value: value === null || value === undefined ? '' : String(value) });
  return { input, hint: shortHint(s), read() {
    const t = input.value.trim();
    return { value: t === '' && s.nullable ? null : t };
  } };
}

function booleanControl(id, name, s, value) {
  const input = h('input', { id, name, type: 'checkbox', checked: value === true });
  return { input, hint: shortHint(s), read: () => ({ value: input.checked }) };
}

// Name/value rows, added and removed with buttons; every input has its own label.
function mapControl(id, name, s, value, label) {
  const rows = h('ul', { class: 'map-rows', id: id + '-rows' });
  const noun = label.replace(/s$/, '').toLowerCase();
  let n = 0;
  const renumber = () => {
    [...rows.children].forEach((li, i) => {
      li.querySelector('.k').setAttribute('aria-label', humanize(noun) + ' ' + (i + 1) + ' name');
      li.querySelector('.v').setAttribute('aria-label', humanize(noun) + ' ' + (i + 1) + ' value');
      li.querySelector('button').setAttribute('aria-label', 'Remove ' + noun + ' ' + (i + 1));
    });
  };
  const addRow = (k, v, focus) => {
    n++;
    const key = h('input', { class: 'k', type: 'text', id: id + '-k' + n, autocomplete: 'off', value: k || '', placeholder: 'Name' });
    const val = h('input', { class: 'v', type: 'text', id: id + '-v' + n, autocomplete: 'off', value: v || '', placeholder: 'Value' });
    const rm = h('button', { type: 'button', class: 'small-button' }, 'Remove');
    const li = h('li', {}, key, val, rm);
    rm.addEventListener('click', () => {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      renumber();
      (next ? next.querySelector('.k') : add).focus();
    });
    rows.append(li);
    renumber();
    if (focus) key.focus();
  };
  for (const [k, v] of Object.entries(value && typeof value === 'object' ? value : {})) addRow(k, String(v));
  const add = h('button', { type: 'button', id, class: 'small-button' }, 'Add ' + noun);
  add.addEventListener('click', () => addRow('', '', true));
  const input = h('div', { class: 'map-editor' }, rows, add);
  return { input, group: true, hint: shortHint(s), read() {
    const out = {};
    for (const li of rows.children) {
      const k = li.querySelector('.k').value.trim();
      const v = li.querySelector('.v').value;
      if (!k && !v) continue;
      if (!k) return { error: 'Every ' + noun + ' needs a name.' };
      if (k in out) return { error: 'The name ' + k + ' appears twice.' };
      out[k] = v;
    }
    // No rows where there were none (null) is no change.
    if (!Object.keys(out).length && s.nullable && (value === null || value === undefined)) return { value: null };
    return { value: out };
  } };
}

// Anything else: JSON, checked here so a typo is named before anything is sent. A field that
// may be a string takes plain text too.
function jsonControl(id, name, s, value) {
  const input = h('textarea', { id, name, rows: '3', spellcheck: 'false' });
  input.value = value === undefined || value === null ? '' : (typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  const textOk = s.mainType === 'string' || !s.mainType;
  return { input, hint: textOk ? 'JSON, or plain text' : 'JSON', read() {
    const t = input.value.trim();
    if (t === '') return { value: null };
    try { return { value: JSON.parse(t) }; } catch (e) {
      return textOk ? { value: t } : { error: 'This is not valid JSON (' + e.message + ').' };
    }
  } };
}

const MAKERS = { number: numberControl, enum: enumControl, strings: stringsControl, string: stringControl,
  boolean: booleanControl, map: mapControl, json: jsonControl };

// A labelled field for one property: { el, name, read() → {value}|{error}, changed(v),
// setError(msg|null), focus() }.
export function schemaField(spec, name, schema, value, idPrefix = 'f-x-') {
  const s = resolve(spec, schema);
  const id = idPrefix + name;
  const label = humanize(name);
  const c = MAKERS[kindOf(s)](id, name, s, value, label);
  const initial = 'initial' in c ? c.initial : (value === undefined ? null : value);
  const hintEl = c.hint ? h('p', { class: 'hint', id: id + '-hint' }, c.hint) : null;
  const err = h('p', { class: 'field-error', id: id + '-error', hidden: true });
  const target = c.group ? null : c.input;
  if (target) target.setAttribute('aria-describedby', [hintEl ? id + '-hint' : '', id + '-error'].filter(Boolean).join(' '));
  const el = c.group
    ? h('fieldset', { class: 'field group', 'aria-describedby': [hintEl ? id + '-hint' : '', id + '-error'].filter(Boolean).join(' ') },
      h('legend', {}, label), hintEl, c.input, err)
    : h('div', { class: 'field' }, h('label', { for: id }, label), hintEl, c.input, err);
  return {
    el, name,
    read: c.read,
    changed: (v) => !same(v, initial),
    setError: (msg) => setFieldError(err, target, msg),
    focus: () => (c.input.matches('input,select,textarea,button') ? c.input : c.input.querySelector('input,button')).focus(),
  };
}

// Show (or clear) a field's own error, next to it and in its accessible description.
export function setFieldError(errEl, input, msg) {
  errEl.textContent = msg || '';
  errEl.hidden = !msg;
  if (input) {
    if (msg) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}
