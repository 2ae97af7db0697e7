/**
 * T5 tokenization for SD3's text_encoder_3 and Flux's text_encoder_2, from the folder's tokenizer.json (the fast
 * tokenizer transformers saves: Unigram with Metaspace, optionally a Precompiled normalizer) with
 * @huggingface/tokenizers. Sequences are laid out as the diffusers pipelines ask transformers for them
 * (padding="max_length", truncation=True, add_special_tokens=True): the pieces, truncated to length - 1, then
 * </s>, then <pad> up to `length`. There is no BOS.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelError } from '../../runtime/errors.js';

export interface T5Tokenizer {
  readonly eosId: number;
  readonly padId: number;
  /** Token ids of a prompt, exactly `length`. */
  encode(text: string, length: number): number[];
  /** The pieces without </s> and padding (for messages and tests). */
  pieces(text: string): string[];
  /** Number of pieces (without </s>): at length - 1 or more, encode() drops the rest. */
  count(text: string): number;
}

interface TokenizerConfigJson {
  eos_token?: string | { content: string };
  pad_token?: string | { content: string };
}

function tokenName(t: string | { content: string } | undefined): string | undefined {
  return typeof t === 'string' ? t : t?.content;
}

function readJson<T>(path: string, label: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new ModelError(`${label}: not valid JSON (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`);
  }
}

/** Load a T5 tokenizer from a folder holding tokenizer.json (and usually tokenizer_config.json). */
export function loadT5Tokenizer(dir: string, label = dir): T5Tokenizer {
  const tjPath = join(dir, 'tokenizer.json');
  if (!existsSync(tjPath)) {
    const spm = existsSync(join(dir, 'spiece.model')) ? ' (only spiece.model is there: load it with transformers\' T5TokenizerFast and save_pretrained to write tokenizer.json)' : '';
    throw new ModelError(`${label}: tokenizer.json not found in ${dir}${spm}`);
  }
  const configPath = join(dir, 'tokenizer_config.json');
  const config: TokenizerConfigJson = existsSync(configPath) ? readJson<TokenizerConfigJson>(configPath, `${label}/tokenizer_config.json`) : {};
  const json = readJson<Record<string, unknown>>(tjPath, `${label}/tokenizer.json`);
  const model = json.model as { type?: string } | undefined;
  if (!model || typeof model !== 'object') throw new ModelError(`${label}/tokenizer.json: no "model" section; not a tokenizers file`);
  let tokenizer: Tokenizer;
  try {
    // the sequence layout (</s>, padding, truncation) is done here, whatever the file's last call left in it
    tokenizer = new Tokenizer({ ...json, post_processor: null, padding: null, truncation: null }, { ...config, model_max_length: undefined });
  } catch (err) {
    throw new ModelError(`${label}: could not build the tokenizer from tokenizer.json (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`);
  }
  const idOf = (name: string, role: string): number => {
    const id = tokenizer.token_to_id(name);
    if (id === undefined) throw new ModelError(`${label}: the ${role} token "${name}" is not in the vocabulary; is this a T5 tokenizer?`);
    return id;
  };
  const eosId = idOf(tokenName(config.eos_token) ?? '</s>', 'end');
  const padId = idOf(tokenName(config.pad_token) ?? '<pad>', 'padding');
  // a tokenizer that does not run is as bad as one that does not load: try it once now
  try {
    tokenizer.encode('a photo', { add_special_tokens: false });
  } catch (err) {
    throw new ModelError(`${label}: the tokenizer does not run (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`);
  }
  return {
    eosId,
    padId,
    encode(text: string, length: number): number[] {
      if (!Number.isInteger(length) || length < 1) throw new RangeError(`T5 sequence length must be a positive integer, got ${length}`);
      const ids = tokenizer.encode(text, { add_special_tokens: false }).ids.slice(0, length - 1);
      ids.push(eosId);
      while (ids.length < length) ids.push(padId);
      return ids;
    },
    count(text: string): number {
      return tokenizer.encode(text, { add_special_tokens: false }).ids.length;
    },
    pieces(text: string): string[] {
      return tokenizer.encode(text, { add_special_tokens: false }).tokens;
    },
  };
}
