/**
 * CLIP tokenization for Stable Diffusion text encoders, from local files only, with @huggingface/tokenizers.
 * A tokenizer folder holds tokenizer.json, or vocab.json + merges.txt (what diffusers and optimum usually save);
 * the latter is turned into the equivalent tokenizer.json description of CLIP's tokenizer.
 * Sequences are 77 tokens: <start> + up to 75 prompt tokens + <end>, padded with the folder's pad token,
 * as the reference pipelines call the tokenizer (padding="max_length", truncation=True).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelError, readJsonFile } from '../runtime/session.js';

export const CLIP_SEQUENCE_LENGTH = 77;

/** GPT-2/CLIP's reversible byte -> printable-character map used by byte-level BPE. */
export function bytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n += 1;
    }
  }
  const map = new Map<number, string>();
  bs.forEach((b, i) => map.set(b, String.fromCodePoint(cs[i]!)));
  return new Map([...map.entries()].sort((a, b) => a[0] - b[0]));
}

/** The tokenizer.json description of CLIP's tokenizer (lowercase, CLIP's split pattern, byte-level BPE with "</w>"). */
export function clipTokenizerJson(vocab: Record<string, number>, merges: string[]): Record<string, unknown> {
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special('<|startoftext|>'), special('<|endoftext|>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<|endoftext|>',
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

export interface ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** Token ids of a prompt, exactly 77: BOS, up to 75 tokens (longer prompts are truncated), EOS, padding. */
  encode(text: string): number[];
  /** Number of prompt tokens (without start and end): above 75, encode() drops the rest. */
  count(text: string): number;
  /**
   * 77-token windows for a prompt of any length, as ComfyUI's SDTokenizer makes them: words (split on spaces) go
   * whole into a window while they fit, a word shorter than 8 tokens that does not fit starts the next window, a
   * longer one is split; each window is start, tokens, end, padding. A prompt of at most 75 tokens gives one
   * window equal to encode(text).
   */
  chunks(text: string): number[][];
}

/** ComfyUI's max_word_length: words of this many tokens or more may be split across windows. */
const MAX_WORD_TOKENS = 8;

/** Prompt tokens one CLIP window holds (77 minus start and end). */
export const CLIP_PROMPT_TOKENS = CLIP_SEQUENCE_LENGTH - 2;

interface TokenizerConfigJson {
  bos_token?: string | { content: string };
  eos_token?: string | { content: string };
  pad_token?: string | { content: string };
  model_max_length?: number;
}

function tokenName(t: string | { content: string } | undefined): string | undefined {
  return typeof t === 'string' ? t : t?.content;
}

/** Load a CLIP tokenizer from a local folder (tokenizer.json, or vocab.json + merges.txt). */
export function loadClipTokenizer(dir: string, label = dir): ClipTokenizer {
  const configPath = join(dir, 'tokenizer_config.json');
  const config: TokenizerConfigJson = existsSync(configPath) ? readJsonFile<TokenizerConfigJson>(configPath, `${label}/tokenizer_config.json`) : {};
  const mapPath = join(dir, 'special_tokens_map.json');
  const specialMap: TokenizerConfigJson = existsSync(mapPath) ? readJsonFile<TokenizerConfigJson>(mapPath, `${label}/special_tokens_map.json`) : {};

  let json: Record<string, unknown>;
  const tjPath = join(dir, 'tokenizer.json');
  if (existsSync(tjPath)) {
    json = readJsonFile<Record<string, unknown>>(tjPath, `${label}/tokenizer.json`);
    // the sequence layout is done here, not by the file's post-processor or padding settings
    json = { ...json, post_processor: null, padding: null, truncation: null };
  } else {
    const vocabPath = join(dir, 'vocab.json');
    const mergesPath = join(dir, 'merges.txt');
    if (!existsSync(vocabPath) || !existsSync(mergesPath)) {
      throw new ModelError(`${label}: no tokenizer files; expected tokenizer.json, or vocab.json and merges.txt, in ${dir}`);
    }
    const vocab = readJsonFile<Record<string, number>>(vocabPath, `${label}/vocab.json`);
    const merges = readFileSync(mergesPath, 'utf8')
      .split('\n')
      .filter((line, i) => line.trim() !== '' && !(i === 0 && line.startsWith('#version')));
    json = clipTokenizerJson(vocab, merges);
  }

  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, { ...config, model_max_length: undefined });
  } catch (err) {
    throw new ModelError(`${label}: could not build the tokenizer (${err instanceof Error ? err.message : String(err)})`);
  }
  const idOf = (name: string | undefined, role: string): number => {
    const id = name === undefined ? undefined : tokenizer.token_to_id(name);
    if (id === undefined) throw new ModelError(`${label}: the ${role} token ${name === undefined ? '(unset)' : `"${name}"`} is not in the vocabulary`);
    return id;
  };
  const bosId = idOf(tokenName(config.bos_token ?? specialMap.bos_token) ?? '<|startoftext|>', 'start');
  const eosId = idOf(tokenName(config.eos_token ?? specialMap.eos_token) ?? '<|endoftext|>', 'end');
  const padId = idOf(tokenName(config.pad_token ?? specialMap.pad_token) ?? '<|endoftext|>', 'padding');
  const maxLen = CLIP_SEQUENCE_LENGTH;

  return {
    bosId,
    eosId,
    padId,
    encode(text: string): number[] {
      const body = tokenizer.encode(text, { add_special_tokens: false }).ids.slice(0, maxLen - 2);
      const ids = [bosId, ...body, eosId];
      while (ids.length < maxLen) ids.push(padId);
      return ids;
    },
    count(text: string): number {
      return tokenizer.encode(text, { add_special_tokens: false }).ids.length;
    },
    chunks(text: string): number[][] {
      const words = text.replace(/\n/g, ' ').split(' ').filter((w) => w !== '');
      const windows: number[][] = [];
      let batch = [bosId];
      const close = () => {
        batch.push(eosId);
        while (batch.length < maxLen) batch.push(padId);
        windows.push(batch);
        batch = [bosId];
      };
      for (const word of words) {
        let group = tokenizer.encode(word, { add_special_tokens: false }).ids;
        const large = group.length >= MAX_WORD_TOKENS;
        while (group.length > 0) {
          if (group.length + batch.length > maxLen - 1) {
            if (large) {
              const room = maxLen - batch.length - 1;
              batch.push(...group.slice(0, room));
              group = group.slice(room);
            }
            close();
          } else {
            batch.push(...group);
            group = [];
          }
        }
      }
      close();
      return windows;
    },
  };
}
