// Given-name diminutives. The main source is the maintained, hand-curated data set of Carlton
// Northern and Nick Crews (`data/nicknames.csv`, Apache-2.0; provenance in data/README.md): npm has
// no such data set (checked: `nicknames` on npm is a nickname generator; talisman, natural,
// humanparser, parse-full-name ship none), so the CSV is copied from the PyPI package `nicknames`
// 1.0.1 that publishes it. A short hand list adds groups it lacks (Liam for William …).
// Two names are nicknames of each other when one is listed as the other's nickname, or both as
// nicknames of one name (Bill ~ Will via William). A nickname is only ever "partial" agreement: it
// can make a pair probable, never certain on its own.
import { readFileSync } from 'node:fs';

const HAND_GROUPS: string[][] = [
  ['william', 'will', 'bill', 'billy', 'willy', 'willie', 'liam'],
  ['robert', 'rob', 'bob', 'bobby', 'robbie', 'bert'],
  ['richard', 'rick', 'ricky', 'rich', 'dick', 'richie'],
  ['james', 'jim', 'jimmy', 'jamie'],
  ['john', 'jack', 'johnny', 'jon'],
  ['jonathan', 'jon', 'jonny', 'nathan'],
  ['michael', 'mike', 'mikey', 'mick', 'mickey'],
  ['thomas', 'tom', 'tommy'],
  ['joseph', 'joe', 'joey', 'jos'],
  ['christopher', 'chris', 'kit', 'topher'],
  ['alexander', 'alex', 'al', 'xander', 'sasha', 'lex'],
  ['alexandra', 'alex', 'lexi', 'lexie', 'sasha', 'sandra', 'sandy'],
  ['nicholas', 'nick', 'nicky', 'nico', 'cole'],
  ['anthony', 'tony'],
  ['daniel', 'dan', 'danny'],
  ['matthew', 'matt', 'matty'],
  ['benjamin', 'ben', 'benny', 'benji'],
  ['samuel', 'sam', 'sammy'],
  ['samantha', 'sam', 'sammy', 'sami'],
  ['andrew', 'andy', 'drew'],
  ['edward', 'ed', 'eddie', 'ted', 'teddy', 'ned'],
  ['theodore', 'theo', 'ted', 'teddy'],
  ['charles', 'charlie', 'chuck', 'chas', 'chaz'],
  ['charlotte', 'charlie', 'lottie', 'lotte'],
  ['henry', 'hank', 'harry', 'hal'],
  ['harold', 'harry', 'hal'],
  ['zachary', 'zach', 'zack', 'zak'],
  ['jacob', 'jake'],
  ['joshua', 'josh'],
  ['nathaniel', 'nathan', 'nate', 'nat'],
  ['timothy', 'tim', 'timmy'],
  ['stephen', 'steven', 'steve', 'stevie'],
  ['kenneth', 'ken', 'kenny'],
  ['ronald', 'ron', 'ronnie'],
  ['donald', 'don', 'donnie'],
  ['gregory', 'greg'],
  ['jeffrey', 'geoffrey', 'jeff', 'geoff'],
  ['lawrence', 'laurence', 'larry'],
  ['frederick', 'fred', 'freddie', 'freddy'],
  ['peter', 'pete'],
  ['raymond', 'ray'],
  ['douglas', 'doug'],
  ['gerald', 'jerry', 'gerry'],
  ['patrick', 'pat', 'paddy'],
  ['gabriel', 'gabe'],
  ['vincent', 'vince', 'vinny'],
  ['elizabeth', 'liz', 'lizzie', 'beth', 'betty', 'betsy', 'eliza', 'libby', 'liza', 'ellie'],
  ['katherine', 'catherine', 'kathryn', 'kate', 'katie', 'kathy', 'cathy', 'kat', 'kitty'],
  ['margaret', 'maggie', 'meg', 'peggy', 'marge', 'greta'],
  ['patricia', 'pat', 'patty', 'trish', 'tricia'],
  ['jennifer', 'jen', 'jenny'],
  ['rebecca', 'becky', 'becca'],
  ['susan', 'sue', 'susie', 'suzy'],
  ['deborah', 'debra', 'deb', 'debbie'],
  ['abigail', 'abby', 'abbie', 'gail'],
  ['victoria', 'vicky', 'tori', 'vic'],
  ['isabella', 'isabel', 'bella', 'izzy', 'isa'],
  ['olivia', 'liv', 'livvy', 'olive'],
  ['madison', 'maddie', 'maddy'],
  ['jessica', 'jess', 'jessie'],
  ['amanda', 'mandy'],
  ['christina', 'christine', 'chris', 'tina', 'chrissy'],
  ['dorothy', 'dot', 'dottie', 'dolly'],
  ['eleanor', 'ellie', 'nora', 'nell'],
  ['josephine', 'jo', 'josie'],
  ['kimberly', 'kim'],
  ['melissa', 'missy', 'mel'],
  ['pamela', 'pam'],
  ['stephanie', 'steph', 'stevie'],
  ['theresa', 'teresa', 'terri', 'tess', 'tessa'],
  ['valerie', 'val'],
  ['natalie', 'nat', 'talia'],
  ['gabriella', 'gabrielle', 'gabby', 'ella'],
  ['sophia', 'sofia', 'sophie'],
  ['emily', 'em', 'emmy', 'millie'],
  ['emma', 'em', 'emmy'],
  ['mary', 'molly', 'polly', 'mae'],
  ['anne', 'ann', 'anna', 'annie', 'nan', 'nancy'],
  ['sarah', 'sara', 'sally', 'sadie'],
  ['caroline', 'carol', 'carrie', 'lina'],
];

/** name1,relationship,name2 rows (`has_nickname`), lower case. */
export function parseNicknameCsv(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const line of text.split(/\r?\n/).slice(1)) {
    const [name, relationship, nickname] = line.split(',').map((x) => x.trim().toLowerCase());
    if (relationship === 'has_nickname' && name && nickname) pairs.push([name, nickname]);
  }
  return pairs;
}

const INDEX = new Map<string, Set<string>>();
function link(a: string, b: string): void {
  if (a === b) return;
  let set = INDEX.get(a);
  if (!set) INDEX.set(a, (set = new Set()));
  set.add(b);
}

// Groups: a formal name with all its nicknames (the CSV's rows grouped by name1, and the hand list).
const groups = new Map<string, Set<string>>();
for (const [name, nickname] of parseNicknameCsv(readFileSync(new URL('./data/nicknames.csv', import.meta.url), 'utf8'))) {
  let g = groups.get(name);
  if (!g) groups.set(name, (g = new Set([name])));
  g.add(nickname);
}
for (const group of HAND_GROUPS) groups.set(`hand:${group[0]}`, new Set(group));
for (const group of groups.values()) for (const a of group) for (const b of group) link(a, b);

/** Are a and b (name keys, lower case) a known name / diminutive pair? */
export function isNickname(a: string, b: string): boolean {
  return a !== b && (INDEX.get(a)?.has(b) ?? false);
}
