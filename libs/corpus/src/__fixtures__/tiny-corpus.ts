// A hand-written corpus for the retriever's tests: 20 short passages on distinct topics, each
// with a question whose answer only it holds.
export interface TinyPassage {
  id: string;
  text: string;
  question: string;
}

export const TINY_CORPUS: readonly TinyPassage[] = [
  {
    id: 'volcano',
    text: 'A volcano erupts when magma rises through the crust and lava flows down its slopes.',
    question: 'why does lava flow out of a volcano',
  },
  {
    id: 'photosynthesis',
    text: 'Plants turn sunlight, water and carbon dioxide into sugar and oxygen by photosynthesis in their leaves.',
    question: 'how do leaves make sugar from sunlight',
  },
  {
    id: 'bread',
    text: 'Bakers knead flour, water, salt and yeast into dough, let it rise, then bake the bread in a hot oven.',
    question: 'what does yeast do to dough before baking bread',
  },
  {
    id: 'tides',
    text: 'Ocean tides rise and fall twice a day because the moon pulls on the water of the seas.',
    question: 'what pulls the seas to make tides',
  },
  {
    id: 'chess',
    text: 'In chess the king moves one square, the bishop moves diagonally and a pawn can promote to a queen.',
    question: 'which chess piece moves diagonally',
  },
  {
    id: 'bicycle',
    text: 'A bicycle chain carries the force of the pedals to the rear wheel through gears and sprockets.',
    question: 'what connects the pedals to the rear wheel gears',
  },
  {
    id: 'honey',
    text: 'Honey bees collect nectar from flowers and store it as honey in wax combs inside the hive.',
    question: 'where do bees store nectar as honey',
  },
  {
    id: 'compiler',
    text: 'A compiler translates source code into machine instructions and reports type errors before the program runs.',
    question: 'what translates source code to machine instructions',
  },
  {
    id: 'glacier',
    text: 'Glaciers are rivers of ice that carve valleys slowly as snow compacts over centuries in cold mountains.',
    question: 'how do glaciers carve mountain valleys',
  },
  {
    id: 'coffee',
    text: 'Coffee beans are roasted, ground and brewed with hot water; espresso forces the water through under pressure.',
    question: 'how is espresso brewed from ground coffee beans',
  },
  {
    id: 'vaccine',
    text: 'A vaccine trains the immune system to recognise a virus so that antibodies are ready before an infection.',
    question: 'how does a vaccine prepare antibodies against a virus',
  },
  {
    id: 'guitar',
    text: 'A guitar has six strings; pressing them against frets changes the pitch of the note that is plucked.',
    question: 'what changes the pitch of a guitar string',
  },
  {
    id: 'rainbow',
    text: 'A rainbow appears when sunlight is refracted and reflected inside raindrops, splitting white light into colours.',
    question: 'why do raindrops split light into a rainbow of colours',
  },
  {
    id: 'marathon',
    text: 'A marathon is a running race of 42.195 kilometres, first run at the Olympic games of 1896 in Athens.',
    question: 'how long is a marathon race in kilometres',
  },
  {
    id: 'satellite',
    text: 'A satellite stays in orbit because its speed balances the pull of gravity as it falls around the earth.',
    question: 'what keeps a satellite in orbit around the earth',
  },
  {
    id: 'cheese',
    text: 'Cheese is made by curdling milk with rennet, pressing the curds and ageing the wheels in cool cellars.',
    question: 'how are milk curds turned into cheese',
  },
  {
    id: 'database',
    text: 'A database index such as a B-tree lets queries find rows without scanning the whole table on disk.',
    question: 'how does an index avoid scanning every row of a table',
  },
  {
    id: 'thunder',
    text: 'Thunder is the sound of air expanding violently when lightning heats it during a storm.',
    question: 'what makes the sound of thunder in a storm',
  },
  {
    id: 'origami',
    text: 'Origami is the Japanese art of folding a single square sheet of paper into cranes and other figures.',
    question: 'what is the art of folding paper cranes called',
  },
  {
    id: 'penguin',
    text: 'Emperor penguins huddle together through the Antarctic winter while the males keep the eggs warm on their feet.',
    question: 'where do emperor penguins keep their eggs warm',
  },
];
