# sample /proc/stat over 3 s in the middle of a run; args: server pid
sleep 2
read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ < /proc/stat; c1=$(awk '{print $14+$15}' /proc/$1/stat)
sleep 3
read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ < /proc/stat; c2=$(awk '{print $14+$15}' /proc/$1/stat)
tot=$(( (u2+n2+s2+i2+w2+q2+sq2+st2) - (u1+n1+s1+i1+w1+q1+sq1+st1) ))
echo "machine busy $(( 200*( tot - (i2-i1) - (w2-w1) - (st2-st1) ) / tot ))% of 200%, steal $(( 200*(st2-st1)/tot ))%, server $(( (c2-c1)/3 ))%"
