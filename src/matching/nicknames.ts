// Common English given-name diminutives. No well-kept npm package ships a nickname table (checked:
// talisman, natural, humanparser, parse-full-name have none we could use), so this is a short
// hand-made list of the unambiguous, frequent groups. A nickname is only ever "partial" agreement:
// it can make a pair probable, never certain on its own.
const GROUPS: string[][] = [
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

const INDEX = new Map<string, Set<string>>();
for (const group of GROUPS) {
  for (const name of group) {
    let set = INDEX.get(name);
    if (!set) INDEX.set(name, (set = new Set()));
    for (const other of group) if (other !== name) set.add(other);
  }
}

/** Are a and b (name keys, lower case) a known name / diminutive pair? */
export function isNickname(a: string, b: string): boolean {
  return a !== b && (INDEX.get(a)?.has(b) ?? false);
}
