// SPDX-License-Identifier: MIT
// Validate Kubernetes objects against the Kubernetes API schemas, offline.
//
//   node validate.mjs NODE_MODULES_DIR < objects.json
//
// stdin: a JSON array of objects (tests/integration/test_deploy.py renders each overlay with
// `kubectl kustomize` and converts it). stdout: a JSON array with, for each object,
// {apiVersion, kind, name, errors: [...]}; the exit status is 0 when no object has an error.
//
// Two checks per object, both from the npm package kubernetes-models (installed by ./install,
// pinned by package-lock.json), which is generated from the Kubernetes OpenAPI definitions:
//  1. its JSON-schema validators (compiled with ajv): types, required fields, enums, formats
//     such as int32, for the object's apiVersion and kind. An apiVersion/kind without a schema
//     is an error, not a skip.
//  2. unknown fields, which the OpenAPI schemas allow but the API server rejects (kubectl's
//     strict field validation): every key must be a property of its type, walked through the
//     package's type declarations (.d.ts), which carry each type's property list. A type the
//     walk cannot resolve is an error too, so this check never passes by not looking.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.argv[2];
if (!modules || !fs.existsSync(path.join(modules, 'kubernetes-models'))) {
	console.error('usage: node validate.mjs NODE_MODULES_DIR < objects.json');
	process.exit(2);
}
const objects = JSON.parse(fs.readFileSync(0, 'utf8'));

// apiVersion + kind -> the model's module and type-declaration file.
function modelFile(apiVersion, kind, ext) {
	const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
	return path.join(modules, 'kubernetes-models', group, version, kind + ext);
}

// ---- type declarations: interface name -> {property: type expression} ----
const interfaces = new Map(); // global and file-local names -> {props, file}
const aliases = new Map(); // type alias name -> type expression

function walk(dir, out) {
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) walk(p, out);
		else if (e.name.endsWith('.d.ts')) out.push(p);
	}
	return out;
}

// The properties of an interface body or inline object type: "name"?: type; ... (types may
// span lines and nest).
function parseProps(body, file) {
	const props = {};
	let depth = 0, cur = '';
	for (const ch of body) {
		if (ch === '{' || ch === '<' || ch === '(') depth++;
		if (ch === '}' || ch === '>' || ch === ')') depth--;
		if (ch === ';' && depth === 0) {
			const pm = /^\s*"([^"]+)"\??:\s*([\s\S]*)$/.exec(cur);
			if (!pm) throw new Error(`${file}: cannot read property "${cur.trim()}"`);
			props[pm[1]] = pm[2].replace(/\s+/g, ' ').trim();
			cur = '';
		} else cur += ch;
	}
	if (cur.trim()) throw new Error(`${file}: cannot read "${cur.trim()}"`);
	return props;
}

function parseDeclarations(file) {
	const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
	const local = new Map();
	const ifaceRe = /^export interface (\w+)(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/gm;
	for (let m; (m = ifaceRe.exec(text));) local.set(m[1], parseProps(m[2], file));
	const typeRe = /^export declare type (\w+) = ([^;]+);/gm;
	for (let m; (m = typeRe.exec(text));) aliases.set(m[1], m[2].trim());
	const exportRe = /^export \{ ([^}]+) \};/gm;
	for (let m; (m = exportRe.exec(text));) {
		for (const part of m[1].split(',')) {
			const [from, to] = part.trim().split(/\s+as\s+/);
			if (local.has(from)) interfaces.set(to, local.get(from));
			else if (aliases.has(from)) aliases.set(to, aliases.get(from));
		}
	}
	return local;
}

const declFiles = walk(path.join(modules, 'kubernetes-models'), []).concat(
	walk(path.join(modules, '@kubernetes-models', 'apimachinery'), []));
for (const f of declFiles) parseDeclarations(f);

const PRIMITIVE = /^(string|number|boolean|any|unknown|object|null|true|false|"[^"]*")$/;

function splitTop(expr, sep) {
	const parts = [];
	let depth = 0, cur = '';
	for (const ch of expr) {
		if (ch === '{' || ch === '<' || ch === '(') depth++;
		if (ch === '}' || ch === '>' || ch === ')') depth--;
		if (ch === sep && depth === 0) {
			parts.push(cur.trim());
			cur = '';
		} else cur += ch;
	}
	parts.push(cur.trim());
	return parts;
}

// Check value against type expression expr; push "path: message" strings into errors.
function check(value, expr, where, errors, seen = 0) {
	if (value === null || value === undefined || seen > 64) return;
	expr = expr.trim();
	const alts = splitTop(expr, '|');
	if (alts.length > 1) {
		// Unions here are scalars (IntOrString, Quantity, string enums) or an object type.
		const objAlt = alts.find((a) => !PRIMITIVE.test(a));
		if (objAlt && typeof value === 'object') check(value, objAlt, where, errors, seen + 1);
		return;
	}
	if (PRIMITIVE.test(expr)) return;
	let m;
	if ((m = /^Array<([\s\S]*)>$/.exec(expr))) {
		if (Array.isArray(value)) value.forEach((v, i) => check(v, m[1], `${where}[${i}]`, errors, seen + 1));
		return;
	}
	if ((m = /^\{ \[key: string\]: ([\s\S]*?);? \}$/.exec(expr))) {
		if (typeof value === 'object') {
			for (const [k, v] of Object.entries(value)) check(v, m[1], `${where}.${k}`, errors, seen + 1);
		}
		return;
	}
	if (aliases.has(expr)) return check(value, aliases.get(expr), where, errors, seen + 1);
	const inline = /^\{ ("[\s\S]*) \}$/.exec(expr);
	const props = inline ? parseProps(inline[1], 'inline type') : interfaces.get(expr);
	if (!props) {
		errors.push(`${where}: the type ${expr} is not in the declarations (validator cannot check it)`);
		return;
	}
	if (typeof value !== 'object' || Array.isArray(value)) return; // the schema check reports it
	for (const [k, v] of Object.entries(value)) {
		if (!(k in props)) errors.push(`${where}.${k}: unknown field`);
		else check(v, props[k], `${where}.${k}`, errors, seen + 1);
	}
}

// ---- validate each object ----
const results = [];
let failed = false;
for (const obj of objects) {
	const apiVersion = obj.apiVersion || '';
	const kind = obj.kind || '';
	const name = (obj.metadata && obj.metadata.name) || '';
	const errors = [];
	const mjs = modelFile(apiVersion, kind, '.mjs');
	if (!apiVersion || !kind || !fs.existsSync(mjs)) {
		errors.push(`no schema for apiVersion ${apiVersion} kind ${kind}`);
	} else {
		const mod = await import(pathToFileURL(mjs).href);
		try {
			new mod[kind](obj).validate();
		} catch (e) {
			for (const err of e.errors || [{ instancePath: '', message: e.message }]) {
				errors.push(`${err.instancePath || '/'}: ${err.message}${err.params ? ' ' + JSON.stringify(err.params) : ''}`);
			}
		}
		const top = fs.readFileSync(modelFile(apiVersion, kind, '.d.ts'), 'utf8');
		const im = /^export interface (I\w+) extends TypeMeta \{/m.exec(top);
		if (!im) errors.push(`no type declaration for ${apiVersion} ${kind}`);
		else {
			const local = parseDeclarations(modelFile(apiVersion, kind, '.d.ts'));
			interfaces.set(`top:${apiVersion}/${kind}`, local.get(im[1]));
			check(obj, `top:${apiVersion}/${kind}`, kind, errors);
		}
	}
	if (errors.length) failed = true;
	results.push({ apiVersion, kind, name, errors });
}
process.stdout.write(JSON.stringify(results, null, 1) + '\n');
process.exit(failed ? 1 : 0);
